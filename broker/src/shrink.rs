//! Giving back the memory of collections that grew under a load and then emptied (clients
//! gone after a burst): a `HashMap` or `VecDeque` keeps its largest capacity otherwise.
//! Each is shrunk once it holds under a quarter of its capacity, to twice what it holds,
//! so a shrink is paid for by the removals before it and is never undone by the next
//! insert.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};

/// Capacity kept however empty: below it, shrinking saves less than it costs.
const MIN: usize = 16;

pub(crate) fn shrink_map<K: Eq + Hash, V, S: BuildHasher>(map: &mut HashMap<K, V, S>) {
    if map.capacity() > MIN && map.len() < map.capacity() / 4 {
        map.shrink_to(MIN.max(map.len() * 2));
    }
}

pub(crate) fn shrink_deque<T>(deque: &mut VecDeque<T>) {
    if deque.capacity() > MIN && deque.len() < deque.capacity() / 4 {
        deque.shrink_to(MIN.max(deque.len() * 2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_emptied_to_under_a_quarter_gives_back_its_capacity() {
        let mut map: HashMap<u64, u64> = (0..10_000).map(|n| (n, n)).collect();
        let peak = map.capacity();
        map.retain(|&n, _| n < 4_000);
        shrink_map(&mut map);
        assert!(
            map.capacity() > peak / 2,
            "over a quarter of it is in use: kept"
        );
        map.retain(|&n, _| n < 100);
        shrink_map(&mut map);
        assert!(map.capacity() < peak / 16, "{} of {peak}", map.capacity());
        assert!(map.capacity() >= 200, "room for twice what it holds");
        assert_eq!(map.len(), 100);
    }

    #[test]
    fn a_deque_emptied_to_under_a_quarter_gives_back_its_capacity() {
        let mut deque: VecDeque<u64> = (0..10_000).collect();
        let peak = deque.capacity();
        deque.drain(..9_990);
        shrink_deque(&mut deque);
        assert!(deque.capacity() <= 32, "{} of {peak}", deque.capacity());
        assert_eq!(
            deque.iter().copied().collect::<Vec<_>>(),
            (9_990..10_000).collect::<Vec<_>>()
        );
    }
}
