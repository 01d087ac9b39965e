//! When each online user stops being online: what lets a server announce
//! a presence TTL running out without any client asking.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Default)]
pub struct PresenceWatch {
    /// Each user known to be online, with when that ends (unix ms).
    until: HashMap<Box<str>, i64>,
    /// The same, in order of the end.
    by_end: BTreeSet<(i64, Box<str>)>,
}

impl PresenceWatch {
    /// Notes that `user` is online until `until` (0: offline, forgotten).
    pub fn note(&mut self, user: &str, until: i64) {
        if let Some(old) = self.until.get(user).copied() {
            if old == until {
                return;
            }
            self.by_end.remove(&(old, user.into()));
        }
        if until == 0 {
            self.until.remove(user);
        } else {
            self.until.insert(user.into(), until);
            self.by_end.insert((until, user.into()));
        }
    }

    /// Takes the users whose online time ended by `now`, each with the end
    /// it had.
    pub fn due(&mut self, now: i64) -> Vec<(Box<str>, i64)> {
        let mut ended = Vec::new();
        while let Some((until, _)) = self.by_end.first() {
            if *until > now {
                break;
            }
            if let Some((until, user)) = self.by_end.pop_first() {
                self.until.remove(&user);
                ended.push((user, until));
            }
        }
        ended
    }

    pub fn len(&self) -> usize {
        self.until.len()
    }

    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_ends_once_at_their_latest_time() {
        let mut watch = PresenceWatch::default();
        watch.note("a", 100);
        watch.note("b", 50);
        watch.note("a", 200); // a heartbeat moves the end
        watch.note("c", 70);
        watch.note("c", 0); // offline by command: forgotten
        assert_eq!(watch.len(), 2);
        assert_eq!(watch.due(99), [("b".into(), 50)]);
        assert!(watch.due(199).is_empty());
        assert_eq!(watch.due(1000), [("a".into(), 200)]);
        assert!(watch.is_empty());
    }
}
