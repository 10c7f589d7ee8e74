//! platform (skeleton; filled in by the Foundation and Platform issues).

crate::codes! {
    PLACEHOLDER = Internal, "platform.placeholder", "占位", "Placeholder";
}
