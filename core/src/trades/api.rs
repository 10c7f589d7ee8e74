//! The trades capability's platform calls (docs/platform-api.md, Trades,
//! Refunds, Settlements) and the mapping of the contract's records to the
//! app's.

// ---------------------------------------------------------------------------
// The change feed (sync)
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Refunds, voids, settlements and statements
// ---------------------------------------------------------------------------
