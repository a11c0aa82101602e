//! The lab's virtual clock as medic's `Clock`, so that verification windows and back-offs scale with an
//! accelerated simulation.
use jiff::Timestamp;
use medic_core::ports::Clock;
use medic_lab::clock::LabClock;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct LabTime(pub Arc<LabClock>);

impl Clock for LabTime {
    fn now(&self) -> Timestamp {
        self.0.now()
    }

    fn speed(&self) -> f64 {
        self.0.speed()
    }
}
