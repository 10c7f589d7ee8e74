//! session: sign-in by phone + SMS code, device key registration, session
//! refresh and sign-out (the Platform issue).
