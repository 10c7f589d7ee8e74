//! The status machine of the application: one transition function, fed by
//! the core's own actions, by polling (`refresh_application_status`) and,
//! through core.rs, by the platform's events (`application.reviewed`,
//! `merchant.activated`).
//!
//! ```text
//! Draft → Submitted → UnderReview → Rejected ──edit──▶ Draft
//!                                 ╰→ Approved → ActivationCodeSent → Activated
//! ```
//!
//! It moves only forward; the one way back is Rejected → Draft on an edit.
//! A resubmission starts again from Draft (or from Rejected, when the
//! merchant submits without changing anything).

use super::model::ApplicationStatus as S;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The merchant changed the form or a photo.
    Edited,
    /// The platform took the submission.
    Submitted,
    /// The platform says the application is `draft`, `under_review`,
    /// `rejected`, `approved` or `activated` (polled or pushed).
    Platform(PlatformStatus),
    /// An activation code went out by SMS.
    ActivationCodeSent,
    /// The merchant is active.
    Activated,
}

/// The platform's statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformStatus {
    Draft,
    UnderReview,
    Rejected,
    Approved,
    Activated,
}

impl PlatformStatus {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "draft" => PlatformStatus::Draft,
            "under_review" | "submitted" => PlatformStatus::UnderReview,
            "rejected" => PlatformStatus::Rejected,
            "approved" => PlatformStatus::Approved,
            "activated" => PlatformStatus::Activated,
            _ => return None,
        })
    }
}

/// How far along a status is. Rejected and Approved share a rank: both are
/// outcomes of one review.
fn rank(s: S) -> u8 {
    match s {
        S::Draft => 0,
        S::Submitted => 1,
        S::UnderReview => 2,
        S::Rejected | S::Approved => 3,
        S::ActivationCodeSent => 4,
        S::Activated => 5,
    }
}

/// The status after `event`, or `None` when it does not move.
pub fn transition(current: S, event: &Event) -> Option<S> {
    let target = match event {
        // The one way back.
        Event::Edited => {
            return (current == S::Rejected).then_some(S::Draft);
        }
        // A (re)submission: from a draft, or a rejected one sent again as it is.
        Event::Submitted => {
            return matches!(current, S::Draft | S::Rejected).then_some(S::Submitted);
        }
        Event::Platform(p) => match p {
            // The platform's draft never moves a local status back.
            PlatformStatus::Draft => return None,
            PlatformStatus::UnderReview => S::UnderReview,
            PlatformStatus::Rejected => S::Rejected,
            PlatformStatus::Approved => S::Approved,
            PlatformStatus::Activated => S::Activated,
        },
        Event::ActivationCodeSent => S::ActivationCodeSent,
        Event::Activated => S::Activated,
    };
    // A rejection seen while the merchant is changing the draft is the one
    // they are fixing: the edit took it back to Draft, and it stays there.
    if current == S::Draft && target == S::Rejected {
        return None;
    }
    // Anything at or behind where we are is old news.
    if rank(target) > rank(current) {
        Some(target)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [S; 7] = [
        S::Draft,
        S::Submitted,
        S::UnderReview,
        S::Rejected,
        S::Approved,
        S::ActivationCodeSent,
        S::Activated,
    ];

    fn events() -> Vec<Event> {
        vec![
            Event::Edited,
            Event::Submitted,
            Event::Platform(PlatformStatus::Draft),
            Event::Platform(PlatformStatus::UnderReview),
            Event::Platform(PlatformStatus::Rejected),
            Event::Platform(PlatformStatus::Approved),
            Event::Platform(PlatformStatus::Activated),
            Event::ActivationCodeSent,
            Event::Activated,
        ]
    }

    #[test]
    fn the_happy_path_and_a_rejection_fixed() {
        let mut s = S::Draft;
        let mut step = |e: Event| {
            s = transition(s, &e).unwrap_or(s);
            s
        };
        assert_eq!(step(Event::Submitted), S::Submitted);
        assert_eq!(
            step(Event::Platform(PlatformStatus::UnderReview)),
            S::UnderReview
        );
        assert_eq!(step(Event::Platform(PlatformStatus::Rejected)), S::Rejected);
        assert_eq!(step(Event::Edited), S::Draft);
        assert_eq!(step(Event::Submitted), S::Submitted);
        assert_eq!(step(Event::Platform(PlatformStatus::Approved)), S::Approved);
        assert_eq!(step(Event::ActivationCodeSent), S::ActivationCodeSent);
        assert_eq!(step(Event::Activated), S::Activated);
    }

    #[test]
    fn it_only_moves_forward_except_rejected_to_draft_on_an_edit() {
        for from in ALL {
            for e in events() {
                if let Some(to) = transition(from, &e) {
                    let back = rank(to) <= rank(from);
                    if back {
                        assert!(
                            (from == S::Rejected && to == S::Draft && e == Event::Edited)
                                || (from == S::Rejected && to == S::Submitted),
                            "{from:?} --{e:?}--> {to:?} moves back"
                        );
                    }
                }
            }
        }
        // Nothing leaves Activated.
        for e in events() {
            assert_eq!(transition(S::Activated, &e), None, "{e:?}");
        }
        // An edit leaves every other status alone.
        for from in ALL.into_iter().filter(|s| *s != S::Rejected) {
            assert_eq!(transition(from, &Event::Edited), None);
        }
        // A late, stale review does not undo an approval.
        assert_eq!(
            transition(
                S::ActivationCodeSent,
                &Event::Platform(PlatformStatus::Rejected)
            ),
            None
        );
        assert_eq!(
            transition(
                S::ActivationCodeSent,
                &Event::Platform(PlatformStatus::Approved)
            ),
            None
        );
        assert_eq!(
            transition(S::Approved, &Event::Platform(PlatformStatus::Rejected)),
            None
        );
        // The rejection being fixed does not come back over the edit.
        assert_eq!(
            transition(S::Draft, &Event::Platform(PlatformStatus::Rejected)),
            None
        );
        // A submit whose answer was lost shows up in the next poll.
        assert_eq!(
            transition(S::Draft, &Event::Platform(PlatformStatus::UnderReview)),
            Some(S::UnderReview)
        );
    }

    #[test]
    fn platform_statuses_parse() {
        assert_eq!(
            PlatformStatus::parse("under_review"),
            Some(PlatformStatus::UnderReview)
        );
        assert_eq!(
            PlatformStatus::parse("approved"),
            Some(PlatformStatus::Approved)
        );
        assert_eq!(PlatformStatus::parse("nonsense"), None);
    }
}
