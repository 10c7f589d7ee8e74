//! Keyset paging for the domain lists: `?cursor=<opaque>&limit=<1..200>`.
//!
//! A list is ordered newest first by a pair of integers (a time or a day,
//! then a sequence number that breaks ties). The cursor names the last item
//! of the page given, so the next page starts strictly after it: pages are
//! complete and never overlap, even while new items arrive (they sort before
//! the first page).
//!
//! The cursor is base64url of `<list>.<key>.<tie>`; a cursor of one list is
//! refused by another.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use merchant_contract::wire::{
    PAGE_LIMIT_DEFAULT as DEFAULT_LIMIT, PAGE_LIMIT_MAX as MAX_LIMIT,
};
/// The longest cursor text read.
const MAX_CURSOR_LEN: usize = 128;

/// The position after which a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub key: i64,
    pub tie: i64,
}

/// Which parameter of a page request is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageProblem {
    Cursor,
    Limit,
}

impl Cursor {
    pub fn encode(self, list: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("{list}.{}.{}", self.key, self.tie))
    }

    pub fn decode(list: &str, text: &str) -> Option<Cursor> {
        if text.is_empty() || text.len() > MAX_CURSOR_LEN {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
        let raw = std::str::from_utf8(&raw).ok()?;
        let mut parts = raw.split('.');
        let (l, k, t) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || l != list {
            return None;
        }
        Some(Cursor {
            key: k.parse().ok()?,
            tie: t.parse().ok()?,
        })
    }
}

/// Reads `cursor` and `limit` query values of `list`.
pub fn parse(
    list: &str,
    cursor: Option<&str>,
    limit: Option<&str>,
) -> Result<(Option<Cursor>, u32), Vec<PageProblem>> {
    let mut problems = Vec::new();
    let cursor = match cursor {
        None => None,
        Some(text) => match Cursor::decode(list, text) {
            Some(c) => Some(c),
            None => {
                problems.push(PageProblem::Cursor);
                None
            }
        },
    };
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                problems.push(PageProblem::Limit);
                DEFAULT_LIMIT
            }
        },
    };
    if problems.is_empty() {
        Ok((cursor, limit))
    } else {
        Err(problems)
    }
}

/// Cuts a page from `rows` fetched with `limit + 1` (newest first): the next
/// cursor is the last row kept when there was one more.
pub fn cut<T>(
    list: &str,
    mut rows: Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> Cursor,
) -> (Vec<T>, Option<String>) {
    let limit = limit as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(|r| key(r).encode(list));
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_belong_to_their_list() {
        let c = Cursor {
            key: 1_748_000_000,
            tie: 42,
        };
        let text = c.encode("trades");
        assert_eq!(Cursor::decode("trades", &text), Some(c));
        assert_eq!(Cursor::decode("refunds", &text), None);
        let neg = Cursor { key: -1, tie: 0 };
        assert_eq!(Cursor::decode("x", &neg.encode("x")), Some(neg));
    }

    #[test]
    fn hostile_cursors_and_limits_are_refused() {
        for bad in [
            "",
            "!!!",
            "dHJhZGVz",
            &URL_SAFE_NO_PAD.encode("trades.1.2.3"),
            &URL_SAFE_NO_PAD.encode("trades.a.2"),
            &URL_SAFE_NO_PAD.encode("trades.99999999999999999999.2"),
            &"A".repeat(10_000),
        ] {
            assert_eq!(Cursor::decode("trades", bad), None, "{bad:.40}");
        }
        assert_eq!(
            parse("trades", Some("zz"), Some("0")),
            Err(vec![PageProblem::Cursor, PageProblem::Limit])
        );
        assert_eq!(
            parse("trades", None, Some("201")),
            Err(vec![PageProblem::Limit])
        );
        assert_eq!(
            parse("trades", None, Some("-1")),
            Err(vec![PageProblem::Limit])
        );
        assert_eq!(parse("trades", None, None), Ok((None, DEFAULT_LIMIT)));
        assert_eq!(parse("trades", None, Some("200")), Ok((None, 200)));
    }

    #[test]
    fn cut_gives_a_cursor_only_when_more_remain() {
        let key = |n: &i64| Cursor { key: *n, tie: 0 };
        let (page, next) = cut("n", vec![5, 4, 3], 2, key);
        assert_eq!(page, vec![5, 4]);
        assert_eq!(
            next.and_then(|t| Cursor::decode("n", &t)),
            Some(Cursor { key: 4, tie: 0 })
        );
        let (page, next) = cut("n", vec![5, 4], 2, key);
        assert_eq!(page, vec![5, 4]);
        assert_eq!(next, None);
    }
}

#[cfg(test)]
mod hostile {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_cursor_or_limit_is_read_without_panic(cursor in any::<String>(), limit in any::<String>()) {
            if let Ok((_, n)) = parse("trades", Some(&cursor), Some(&limit)) {
                prop_assert!((1..=MAX_LIMIT).contains(&n));
            }
        }

        #[test]
        fn cursors_round_trip(key in any::<i64>(), tie in any::<i64>()) {
            let c = Cursor { key, tie };
            prop_assert_eq!(Cursor::decode("x", &c.encode("x")), Some(c));
        }
    }
}
