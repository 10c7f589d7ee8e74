//! The platform simulator.
