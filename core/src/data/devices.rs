//! A user's devices online each on their own (CHAT.ONLINE ... DEVICE): the
//! user is online while any of them is.

use serde::{Deserialize, Serialize};

/// The most devices a user keeps online at once; one more pushes out the
/// one whose presence ends first.
pub const DEVICES_MAX: usize = 16;

/// Devices in order of id, each with when it stops being online (unix ms).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Devices(Vec<Device>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Device {
    #[serde(with = "super::wire::text")]
    id: Box<str>,
    until: i64,
}

impl Devices {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each device with its end, in order of id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|d| (&*d.id, d.until))
    }

    /// The latest end: when the user stops being online (0: no device).
    pub fn latest(&self) -> i64 {
        self.0.iter().map(|d| d.until).max().unwrap_or(0)
    }

    /// `device` is online until `until`, at `now`; devices whose time ended
    /// are forgotten.
    pub fn beat(&mut self, device: &str, until: i64, now: i64) {
        self.0.retain(|d| d.until > now && *d.id != *device);
        let at = self.0.partition_point(|d| *d.id < *device);
        self.0.insert(
            at,
            Device {
                id: device.into(),
                until,
            },
        );
        if self.0.len() > DEVICES_MAX {
            let first = self.0.iter().enumerate().min_by_key(|(_, d)| d.until);
            if let Some((i, _)) = first {
                self.0.remove(i);
            }
        }
    }

    /// `device` goes offline at `now` (with the devices whose time ended).
    pub fn end(&mut self, device: &str, now: i64) {
        self.0.retain(|d| d.until > now && *d.id != *device);
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn check(&self) -> Result<(), String> {
        if self.0.windows(2).any(|w| w[0].id >= w[1].id) || self.0.len() > DEVICES_MAX {
            return Err("the user's devices are out of order or too many".into());
        }
        Ok(())
    }

    pub fn heap_bytes(&self) -> usize {
        use super::alloc_size;
        alloc_size(self.0.capacity() * std::mem::size_of::<Device>())
            + self.0.iter().map(|d| alloc_size(d.id.len())).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::wire;

    #[test]
    fn devices_are_kept_in_order_bounded_and_survive_the_encoding() {
        let mut devices = Devices::default();
        for i in 0..(DEVICES_MAX as i64 + 3) {
            devices.beat(&format!("d{:02}", 20 - i), 1000 + i, 0);
        }
        assert_eq!(devices.iter().count(), DEVICES_MAX);
        // The ones ending first went.
        assert!(devices.iter().all(|(_, until)| until >= 1003));
        devices.check().unwrap();
        let back: Devices = wire::decode_all(&wire::encode(&devices)).unwrap();
        assert_eq!(back, devices);
        assert_eq!(devices.latest(), 1000 + DEVICES_MAX as i64 + 2);
        devices.end("d05", 0);
        devices.end("nothing", 1010);
        assert!(devices
            .iter()
            .all(|(id, until)| id != "d05" && until > 1010));
    }
}
