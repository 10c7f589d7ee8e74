//! validate (skeleton; filled in by the Foundation and Platform issues).

crate::codes! {
    PLACEHOLDER = Internal, "validate.placeholder", "占位", "Placeholder";
}
