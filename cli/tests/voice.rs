//! `merchant voice`: the text and the clips of a broadcast, and the exit
//! statuses of the other tools (0 said, 1 a bad amount with its code, 2 usage).

mod common;

use common::merchant;

#[test]
fn prints_the_text_then_the_clips() {
    let cases = [
        (
            &["voice", "850", "--channel", "wechat"][..],
            "微信收款八百五十元\nwechat_received 8 hundred 5 ten yuan\n",
        ),
        (
            &["voice", "1005.5", "--channel", "alipay"],
            "支付宝收款一千零五点五元\nalipay_received 1 thousand 0 5 point 5 yuan\n",
        ),
        (
            &["voice", "0.5", "--channel", "unionpay-qr"],
            "云闪付收款零点五元\nunionpay_received 0 point 5 yuan\n",
        ),
        (
            &["voice", "20000.08", "--channel", "credit-card"],
            "刷卡收款二万点零八元\ncard_received 2 ten_thousand point 0 8 yuan\n",
        ),
        (
            &["voice", "10", "--channel", "debit-card"],
            "刷卡收款十元\ncard_received ten yuan\n",
        ),
        (
            &["voice", "12.5", "--channel", "wechat", "--refund"],
            "退款十二点五元\nrefund ten 2 point 5 yuan\n",
        ),
        (
            &["voice", "--refund", "99999999.99", "--channel", "alipay"],
            "退款九千九百九十九万九千九百九十九点九九元\n\
             refund 9 thousand 9 hundred 9 ten 9 ten_thousand \
             9 thousand 9 hundred 9 ten 9 point 9 9 yuan\n",
        ),
    ];
    for (args, out) in cases {
        let r = merchant(args);
        assert_eq!((r.status, r.stdout.as_str()), (0, out), "{args:?}");
    }
}

#[test]
fn a_bad_or_zero_amount_prints_its_code_and_exits_1() {
    let cases = [
        ("abc", "amount.not_a_number\n"),
        ("", "amount.empty\n"),
        ("-1", "amount.signed\n"),
        ("1.234", "amount.too_many_decimals\n"),
        ("100000000", "amount.too_large\n"),
        ("0", "voice.amount_zero\n"),
        ("0.00", "voice.amount_zero\n"),
    ];
    for (amount, out) in cases {
        let r = merchant(&["voice", amount, "--channel", "wechat"]);
        assert_eq!((r.status, r.stdout.as_str()), (1, out), "{amount:?}");
        assert!(
            !r.stderr.is_empty(),
            "{amount:?}: the message goes to stderr"
        );
    }
}

#[test]
fn a_missing_or_unknown_channel_is_a_usage_error() {
    for args in [
        &["voice"][..],
        &["voice", "850"],
        &["voice", "850", "--channel"],
        &["voice", "850", "--channel", "bogus"],
        &["voice", "850", "--channel", "unionpay_qr"],
        &["voice", "850", "--channel", "wechat", "--refund=maybe"],
    ] {
        let r = merchant(args);
        assert_eq!(r.status, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        assert!(!r.stderr.is_empty(), "{args:?}: usage goes to stderr");
    }
}
