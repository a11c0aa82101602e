//! The collection deadline: every read runs against what is left of it, and what fails or is late becomes
//! a gap instead of an error, so an unresponsive cluster degrades the context instead of stalling it.
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Instant,
    total: Duration,
}

impl Budget {
    pub fn new(total: Duration) -> Self {
        Self { deadline: Instant::now() + total, total }
    }

    /// Runs one read; its error or lateness comes back as the gap text, naming `what` was read.
    pub async fn read<T>(
        &self,
        what: impl Into<String>,
        read: impl Future<Output = medic_core::Result<T>>,
    ) -> Result<T, String> {
        match tokio::time::timeout_at(self.deadline, read).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(format!("{}: {e}", what.into())),
            Err(_) => {
                Err(format!("{}: no answer within the {} ms collection deadline", what.into(), self.total.as_millis()))
            }
        }
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

/// Keeps a read's value, or records its gap and gives the default.
pub fn keep<T: Default>(result: Result<T, String>, gaps: &mut Vec<String>) -> T {
    result.unwrap_or_else(|gap| {
        gaps.push(gap);
        T::default()
    })
}
