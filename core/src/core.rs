//! `MerchantCore`: the one object apps hold; the composition root.

use std::sync::Arc;

/// How the app configures the core.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CoreConfig {
    /// Where the core keeps its files (one SQLite file per signed-in merchant).
    pub data_dir: String,
}

/// The one object an app holds.
#[derive(uniffi::Object)]
pub struct MerchantCore {
    runtime: tokio::runtime::Runtime,
    config: CoreConfig,
}

#[uniffi::export]
impl MerchantCore {
    #[uniffi::constructor]
    pub fn open(config: CoreConfig) -> Result<Arc<Self>, crate::MerchantError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("merchant-core")
            .build()
            .map_err(|e| crate::error::Error::new(&crate::error::RUNTIME).detail(e.to_string()))?;
        Ok(Arc::new(MerchantCore { runtime, config }))
    }

    pub fn data_dir(&self) -> String {
        self.config.data_dir.clone()
    }
}

impl MerchantCore {
    /// Runs `fut` on the core's runtime and awaits it from any executor, so no
    /// foreign thread needs a tokio context.
    pub(crate) async fn run<T, F>(&self, fut: F) -> Result<T, crate::MerchantError>
    where
        F: std::future::Future<Output = Result<T, crate::error::Error>> + Send + 'static,
        T: Send + 'static,
    {
        match self.runtime.spawn(fut).await {
            Ok(r) => r.map_err(Into::into),
            Err(e) => Err(crate::error::Error::new(&crate::error::RUNTIME)
                .detail(e.to_string())
                .into()),
        }
    }
}
