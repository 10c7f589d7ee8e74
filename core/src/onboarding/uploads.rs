//! Photos: prepared on the phone (media), kept sealed in the merchant's
//! store, and uploaded from a queue on disk.
//!
//! Each upload is hash-addressed: a photo whose SHA-256 the platform's
//! application already lists for its kind is not sent again. Each is a
//! keyed write (its idempotency key survives a restart), reports its
//! progress to the app's [`UploadListener`], and after a failure is tried
//! again with full-jitter backoff, up to [`MAX_TRIES`] times per run. The
//! queue survives a restart: `resume_uploads` (or the next submit) carries
//! on where it stopped.

use std::collections::HashMap;
use std::sync::Arc;

use merchant_contract::domain as wire;
use rand::SeedableRng;

use super::model::{ApplicationPhoto, PhotoKind, UploadListener, UploadState};
use super::store::{self, NewPhoto};
use super::sync::{applicable, wire_document};
use super::{ONBOARDING_PHOTOS_PENDING, api, platform_code};
use crate::error::{Error, ErrorKind, Problem, Result};
use crate::media::{self, Target};
use crate::platform::Backoff;
use crate::platform::client::{Progress, is_retryable};
use crate::session::SessionState;

/// Tries of one photo in one run of the queue.
pub const MAX_TRIES: u32 = 3;

/// Prepares `bytes` as a photo of `kind` (refused before any upload with
/// media's codes), seals and queues it. Blocks on the CPU: call it from a
/// blocking thread.
pub fn prepare(kind: PhotoKind, bytes: &[u8]) -> Result<media::PreparedPhoto> {
    let target = match kind {
        PhotoKind::Signature => Target::Signature,
        _ => Target::Document,
    };
    media::prepare(bytes, target)
}

/// Adds (or replaces) the photo of `kind`.
pub async fn add(s: &SessionState, kind: PhotoKind, bytes: Vec<u8>) -> Result<ApplicationPhoto> {
    let merchant = s.merchant_store().await?;
    let fields = store::fields(&merchant)?;
    let (mkind, account) = store::kind_and_account(&fields);
    if let (Some(k), Some(d)) = (mkind, wire_document(kind)) {
        let applies = d.applies(
            wire::MerchantKind::parse(k.as_str()).unwrap_or(wire::MerchantKind::Micro),
            account.and_then(|a| wire::AccountType::parse(a.as_str())),
        );
        if !applies {
            let c = platform_code(&wire::DOCUMENT_NOT_APPLICABLE);
            return Err(Error::input(&c, vec![Problem::new(&c, kind.as_str())]));
        }
    }
    let prepared = tokio::task::spawn_blocking(move || prepare(kind, &bytes))
        .await
        .map_err(|e| Error::new(&crate::error::RUNTIME).detail(e.to_string()))??;
    let content_type = prepared.format.content_type();
    store::put_photo(
        &merchant,
        &NewPhoto {
            kind,
            sha256: &prepared.sha256,
            content_type,
            bytes: &prepared.bytes,
        },
    )?;
    Ok(ApplicationPhoto {
        kind,
        sha256: prepared.sha256.clone(),
        content_type: content_type.to_owned(),
        size: prepared.bytes.len() as u64,
        state: UploadState::Queued,
        attempts: 0,
        last_error: None,
    })
}

/// The photos kept on the device.
pub async fn list(s: &SessionState) -> Result<Vec<ApplicationPhoto>> {
    let merchant = s.merchant_store().await?;
    Ok(store::photos(&merchant)?
        .into_iter()
        .map(|(p, _)| p)
        .collect())
}

fn content_type(text: &str) -> &'static str {
    if text == "image/png" {
        "image/png"
    } else {
        "image/jpeg"
    }
}

/// Runs the queue (the caller holds the onboarding write lock): syncs the
/// draft for its application id, skips what the platform already has,
/// uploads the rest. Returns the photos afterwards and whether any is still
/// queued after this run.
pub async fn upload_locked(
    s: &SessionState,
    listener: Option<Arc<dyn UploadListener>>,
) -> Result<(Vec<ApplicationPhoto>, bool)> {
    let merchant = s.merchant_store().await?;
    let fields = store::fields(&merchant)?;
    let all: Vec<ApplicationPhoto> = store::photos(&merchant)?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let queued: Vec<ApplicationPhoto> = applicable(&all, &fields)
        .into_iter()
        .filter(|p| p.state == UploadState::Queued)
        .collect();
    if queued.is_empty() {
        return Ok((list(s).await?, false));
    }
    // Photos go to the application: the draft reaches the platform first.
    // When it cannot (offline, say), each photo's try has failed.
    let id = match super::sync::sync_locked(s).await {
        Ok(id) => id,
        Err(e) if matches!(e.kind, ErrorKind::Storage | ErrorKind::Internal) => return Err(e),
        Err(e) => {
            for photo in &queued {
                store::photo_failed(
                    &merchant,
                    photo.kind,
                    &photo.sha256,
                    &e.code,
                    store::now_ms(),
                )?;
                if let Some(l) = &listener {
                    l.on_failed(photo.kind, e.code.to_string());
                }
            }
            return Ok((list(s).await?, true));
        }
    };
    // What the platform already has, by kind (none known when it cannot
    // say: then every photo is sent, and the keyed write does it once).
    let have: HashMap<String, String> = match api::get(s, &id).await {
        Ok(app) => app
            .documents
            .into_iter()
            .map(|d| (d.kind.as_str().to_owned(), d.sha256))
            .collect(),
        Err(e) => {
            tracing::info!(code = %e.code, "documents of the application unknown; sending all");
            HashMap::new()
        }
    };
    let backoff = Backoff::default();
    let mut seed = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
        .map_err(|_| Error::new(&crate::error::INTERNAL).detail("system random failed"))?;
    let mut rng = rand::rngs::StdRng::from_seed(seed);
    let mut pending = false;
    for photo in queued {
        let kind = photo.kind;
        if have.get(kind.as_str()) == Some(&photo.sha256) {
            store::photo_uploaded(&merchant, kind, &photo.sha256)?;
            if let Some(l) = &listener {
                l.on_done(kind);
            }
            continue;
        }
        let Some(bytes) = store::photo_bytes(&merchant, kind, &photo.sha256)? else {
            continue; // replaced meanwhile
        };
        let mut tries = 0;
        loop {
            let progress = {
                let listener = listener.clone();
                Progress(Arc::new(move |sent, total| {
                    if let Some(l) = &listener {
                        l.on_progress(kind, sent, total);
                    }
                }))
            };
            let outcome = api::upload(
                s,
                &id,
                kind.as_str(),
                content_type(&photo.content_type),
                bytes.clone(),
                progress,
            )
            .await;
            match outcome {
                Ok(doc) if doc.sha256 == photo.sha256 => {
                    store::photo_uploaded(&merchant, kind, &photo.sha256)?;
                    if let Some(l) = &listener {
                        l.on_done(kind);
                    }
                    break;
                }
                other => {
                    let e = match other {
                        Ok(_) => Error::new(&crate::platform::RESPONSE_MALFORMED)
                            .detail("the platform kept other bytes than were sent"),
                        Err(e) => e,
                    };
                    tries += 1;
                    let wait = backoff.delay(tries - 1, &mut rng);
                    let next = store::now_ms() + i64::try_from(wait.as_millis()).unwrap_or(0);
                    store::photo_failed(&merchant, kind, &photo.sha256, &e.code, next)?;
                    if let Some(l) = &listener {
                        l.on_failed(kind, e.code.to_string());
                    }
                    if !is_retryable(&e) || tries >= MAX_TRIES {
                        pending = true;
                        tracing::info!(code = %e.code, kind = kind.as_str(), "photo upload left queued");
                        break;
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
    Ok((list(s).await?, pending))
}

/// [`upload_locked`] for a caller that needs every photo on the platform.
pub async fn upload_all_locked(s: &SessionState) -> Result<()> {
    match upload_locked(s, None).await? {
        (_, false) => Ok(()),
        (_, true) => Err(Error::new(&ONBOARDING_PHOTOS_PENDING)),
    }
}

/// Runs the queue for the app, reporting to `listener`.
pub async fn upload(
    s: &SessionState,
    listener: Option<Arc<dyn UploadListener>>,
) -> Result<Vec<ApplicationPhoto>> {
    let _one = super::sync::WRITES.lock().await;
    Ok(upload_locked(s, listener).await?.0)
}
