//! merchant-core: the brain of the merchant app for a 电签 POS terminal.
//!
//! Apps hold one [`MerchantCore`]; validators and money functions are plain
//! exported functions. See ../shared/DESIGN.md for the house plan: shared
//! layers (error, money, validate, store, platform) never import a capability;
//! capabilities (session, onboarding, terminals, trades, alerts) meet only here.

uniffi::setup_scaffolding!("merchant_core");

pub mod alerts;
pub mod error;
pub mod findings;
pub mod media;
pub mod money;
pub mod onboarding;
pub mod platform;
pub mod session;
pub mod store;
pub mod terminals;
pub mod trades;
pub mod validate;

mod core;

pub use crate::core::{CoreConfig, MerchantCore, protection_hook};
pub use error::{Lang, MerchantError, Problem};
pub use money::{Amount, Channel, ChannelRate, Rate, RateTable};
pub use store::SecretStore;
