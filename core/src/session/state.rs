//! The session capability's in-memory state, held by [`crate::MerchantCore`].

use std::path::PathBuf;
use std::sync::Arc;

use merchant_contract::DeviceKey;
use tokio::sync::OnceCell;

use crate::error::Result;
use crate::store::SecretStore;

/// Held once per core, shared with the tasks it spawns.
#[derive(Default)]
pub struct SessionState {
    device: OnceCell<Arc<DeviceKey>>,
}

impl std::fmt::Debug for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionState").finish_non_exhaustive()
    }
}

impl SessionState {
    pub fn new() -> Self {
        Self::default()
    }

    /// The device key, loaded (or created) once, then kept in memory.
    pub async fn device_key(
        &self,
        data_dir: PathBuf,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<Arc<DeviceKey>> {
        self.device
            .get_or_try_init(|| async move {
                super::device::load_or_create_async(data_dir, secrets)
                    .await
                    .map(Arc::new)
            })
            .await
            .cloned()
    }
}
