//! store (skeleton; filled in by the Foundation and Platform issues).

crate::codes! {
    PLACEHOLDER = Internal, "store.placeholder", "占位", "Placeholder";
}
