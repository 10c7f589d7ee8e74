//! The `merchant` binary's tools, run as a user runs them: `validate`,
//! `money` and `errors`, with their outputs and exit statuses (0 valid,
//! 1 invalid with each problem's code on its own line, 2 usage error).

use merchant_core::validate::bank_card::luhn_check_digit;

mod common;

use common::{Run, merchant};

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).expect("stdout is JSON")
}

/// A Luhn-valid card number from its digits before the check digit.
fn card(partial: &str) -> String {
    let check = luhn_check_digit(partial.as_bytes()).expect("digits");
    format!("{partial}{}", char::from(check))
}

const ID: &str = "11010519491231002X";

#[test]
fn a_valid_id_number_exits_0_with_its_details() {
    let r = merchant(&["validate", "id-card", ID]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "valid\nmasked: 110***********002X\ngender: female\nbirth_date: 1949-12-31\nprovince: 北京市\n"
    );
}

#[test]
fn an_invalid_id_number_exits_1_with_one_code_per_line() {
    let r = merchant(&["validate", "id-card", "990105194912310021"]);
    assert_eq!(r.status, 1);
    assert_eq!(r.stdout, "id_card.region\nid_card.checksum\n");
    assert!(r.stderr.contains("校验位"), "{}", r.stderr);
    let old = merchant(&["validate", "id-card", "110105491231002"]);
    assert_eq!((old.status, old.stdout.as_str()), (1, "id_card.old_form\n"));
}

#[test]
fn json_prints_the_ffi_record_without_the_full_number() {
    let r = merchant(&["validate", "id-card", ID, "--json"]);
    assert_eq!(r.status, 0);
    let v = json(&r);
    assert_eq!(v["valid"], true);
    assert_eq!(v["problems"], serde_json::json!([]));
    assert_eq!(v["masked"], "110***********002X");
    assert_eq!(v["gender"], "female");
    assert_eq!(v["birth_date"], "1949-12-31");
    assert!(!r.stdout.contains(ID));

    let bad = merchant(&["validate", "id-card", "110105194912310021", "--json"]);
    assert_eq!(bad.status, 1);
    let v = json(&bad);
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"][0]["code"], "id_card.checksum");
    assert_eq!(v["gender"], serde_json::Value::Null);
}

#[test]
fn credit_codes() {
    let r = merchant(&["validate", "credit-code", "9144030071526726XG"]);
    assert_eq!(r.status, 0);
    assert!(r.stdout.starts_with("valid\n"));
    assert!(r.stdout.contains("entity: enterprise\n"), "{}", r.stdout);
    let bad = merchant(&["validate", "credit-code", "9144030071526726XA"]);
    assert_eq!(
        (bad.status, bad.stdout.as_str()),
        (1, "credit_code.checksum\n")
    );
    let v = json(&merchant(&[
        "validate",
        "credit-code",
        "9144030071526726XG",
        "--json",
    ]));
    assert_eq!(v["entity"], "enterprise");
    assert_eq!(v["province"], "广东省");
    assert_eq!(v["warnings"], serde_json::json!([]));
}

/// A code whose mod-31 check character is right but whose organisation code
/// (characters 9 to 17) fails GB 11714 is valid with a warning: the
/// registry's rule is the check character alone.
#[test]
fn a_failing_organisation_code_is_a_warning_and_exits_0() {
    // 9144030071526726X with its organisation check character changed to Y,
    // then the mod-31 check character recomputed.
    let mut first17 = b"9144030071526726Y".to_vec();
    let check = merchant_core::validate::credit_code::check_char(&first17).expect("17");
    first17.push(check);
    let code = String::from_utf8(first17).expect("ascii");
    let r = merchant(&["validate", "credit-code", &code]);
    assert_eq!(r.status, 0, "{}", r.stdout);
    assert!(
        r.stdout.starts_with(
            "valid
"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .ends_with("warning: credit_code.organisation_code\n"),
        "{}",
        r.stdout
    );
    let v = json(&merchant(&["validate", "credit-code", &code, "--json"]));
    assert_eq!(v["valid"], true);
    assert_eq!(v["problems"], serde_json::json!([]));
    assert_eq!(v["warnings"][0]["code"], "credit_code.organisation_code");
}

#[test]
fn bank_cards_with_spaces_name_their_bank() {
    let number = card("622848040256489001");
    let spaced = format!("{} {} {}", &number[..6], &number[6..12], &number[12..]);
    let r = merchant(&["validate", "bank-card", &spaced]);
    assert_eq!(r.status, 0, "{}", r.stdout);
    assert!(r.stdout.contains("中国农业银行"), "{}", r.stdout);
    assert!(r.stdout.contains("debit"), "{}", r.stdout);
    let v = json(&merchant(&["validate", "bank-card", &number, "--json"]));
    assert_eq!(v["bin"]["bank_code"], "ABC");
    assert_eq!(v["bin"]["card_kind"], "debit");
    assert_eq!(v["masked"], format!("622848*********{}", &number[15..]));

    let mut wrong = number.clone().into_bytes();
    wrong[18] = b'0' + (wrong[18] - b'0' + 5) % 10;
    let wrong = String::from_utf8(wrong).expect("ascii");
    let bad = merchant(&["validate", "bank-card", &wrong]);
    assert_eq!(
        (bad.status, bad.stdout.as_str()),
        (1, "bank_card.checksum\n")
    );
    let short = merchant(&["validate", "bank-card", "6222a"]);
    assert_eq!(
        (short.status, short.stdout.as_str()),
        (1, "bank_card.characters\nbank_card.length\n")
    );
}

#[test]
fn phones() {
    let r = merchant(&["validate", "phone", "+86 138-0013-8000"]);
    assert_eq!(r.status, 0);
    assert_eq!(r.stdout, "valid\nmasked: 138****8000\n");
    let bad = merchant(&["validate", "phone", "12800138000"]);
    assert_eq!((bad.status, bad.stdout.as_str()), (1, "phone.prefix\n"));
}

#[test]
fn names() {
    let r = merchant(&["validate", "name", "阿依古丽.买买提"]);
    assert_eq!(r.status, 0);
    assert_eq!(r.stdout, "valid\nmasked: 阿******提\nscript: chinese\n");
    let bad = merchant(&["validate", "name", "张三3"]);
    assert_eq!((bad.status, bad.stdout.as_str()), (1, "name.digits\n"));
}

#[test]
fn a_value_starting_with_a_dash_is_a_value() {
    let r = merchant(&["validate", "name", "-John"]);
    assert_eq!((r.status, r.stdout.as_str()), (1, "name.separator\n"));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["validate"][..],
        &["validate", "id-card"],
        &["validate", "passport", "x"],
        &["validate", "phone", "13800138000", "--yaml"],
        &["money"],
        &["money", "upper"],
        &["money", "fee", "1"],
        &["money", "fee", "1", "--channel", "bogus"],
        &["errors", "--html"],
        &["no-such-command"],
    ] {
        let r = merchant(args);
        assert_eq!(r.status, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
}

#[test]
fn money_upper_and_spoken_print_the_reading_alone() {
    let cases = [
        (&["money", "upper", "1010.01"][..], "壹仟零壹拾元零壹分\n"),
        (&["money", "upper", "100000"], "壹拾万元整\n"),
        (&["money", "upper", "0.5"], "伍角\n"),
        (&["money", "spoken", "850"], "八百五十元\n"),
        (&["money", "spoken", "1005.5"], "一千零五点五元\n"),
        (&["money", "spoken", "10"], "十元\n"),
        (&["money", "spoken", "20000.08"], "二万点零八元\n"),
    ];
    for (args, out) in cases {
        let r = merchant(args);
        assert_eq!((r.status, r.stdout.as_str()), (0, out), "{args:?}");
    }
}

#[test]
fn money_fee_prints_yuan_with_two_decimals() {
    let cases = [
        ("850", "wechat", "3.23\n"),
        ("1000", "alipay", "3.80\n"),
        ("1000.01", "unionpay-qr", "6.00\n"),
        ("850", "debit-card", "5.10\n"),
        ("7.5", "credit-card", "0.05\n"),
        ("0", "wechat", "0.00\n"),
    ];
    for (amount, channel, out) in cases {
        let r = merchant(&["money", "fee", amount, "--channel", channel]);
        assert_eq!(
            (r.status, r.stdout.as_str()),
            (0, out),
            "{amount} {channel}"
        );
    }
}

#[test]
fn a_bad_amount_prints_its_code_and_exits_1() {
    let cases = [
        (&["money", "upper", "-1"][..], "amount.signed\n"),
        (&["money", "spoken", "abc"], "amount.not_a_number\n"),
        (&["money", "upper", ""], "amount.empty\n"),
        (&["money", "spoken", "1.234"], "amount.too_many_decimals\n"),
        (&["money", "upper", "100000000"], "amount.too_large\n"),
        (
            &["money", "fee", "-1.234", "--channel", "wechat"],
            "amount.signed\namount.too_many_decimals\n",
        ),
    ];
    for (args, out) in cases {
        let r = merchant(args);
        assert_eq!((r.status, r.stdout.as_str()), (1, out), "{args:?}");
        assert!(!r.stderr.is_empty(), "{args:?}: the message goes to stderr");
    }
}

#[test]
fn errors_lists_the_catalogue_and_prints_the_markdown() {
    let r = merchant(&["errors"]);
    assert_eq!(r.status, 0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), merchant_core::error::catalogue().len());
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("amount.empty\tInput\t金额不能为空\t"))
    );
    assert!(lines.iter().any(|l| l.starts_with("id_card.checksum\t")));

    let md = merchant(&["errors", "--markdown"]);
    assert_eq!(md.status, 0);
    assert_eq!(md.stdout, merchant_core::error::errors_markdown());
    assert!(md.stdout.contains("| `bank_card.checksum` | Input |"));
}

/// A reader that has gone away (`merchant errors | head -0`) ends the tool
/// quietly: no panic message, no status 101.
#[test]
fn a_closed_pipe_ends_the_tool_quietly() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_merchant"))
        .arg("errors")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("merchant runs");
    // Close the reading end before the tool has started writing.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}
