//! Messages that matched none of the application's subscriptions yet.
//!
//! A resumed session's pending deliveries arrive right after the welcome, before the
//! application has subscribed again in this process. The dispatch keeps them here and hands
//! them to the next subscription that matches, oldest first.

use std::collections::VecDeque;

use crate::client::Message;
use crate::topic::TopicFilter;

/// A bounded buffer of unclaimed messages; past its capacity the oldest go first.
#[derive(Debug)]
pub struct Unrouted {
    messages: VecDeque<Message>,
    capacity: usize,
}

impl Unrouted {
    /// A buffer of at most `capacity` messages (at least one).
    pub fn new(capacity: usize) -> Unrouted {
        Unrouted {
            messages: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Keeps `message`, dropping the oldest one when full.
    pub fn push(&mut self, message: Message) {
        if self.messages.len() >= self.capacity {
            self.messages.pop_front();
        }
        self.messages.push_back(message);
    }

    /// Takes the messages `filter` matches, oldest first; the others stay.
    pub fn claim(&mut self, filter: &TopicFilter) -> Vec<Message> {
        // Moved, not cloned; both sides keep their order.
        let mut mine = Vec::new();
        for message in std::mem::take(&mut self.messages) {
            if filter.matches(&message.topic) {
                mine.push(message);
            } else {
                self.messages.push_back(message);
            }
        }
        mine
    }

    /// Messages held.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::codec::Qos;
    use crate::topic::Topic;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn message(topic: &str, n: u64) -> Message {
        Message {
            topic: Topic::new(topic).expect("topic"),
            publisher: "p".into(),
            payload: n.to_string().into_bytes(),
            encrypted: true,
            key_id: None,
            qos: Qos::AtLeastOnce,
            delivery_id: n,
            envelope: Bytes::new(),
        }
    }

    #[test]
    fn a_subscription_claims_its_messages_in_order_and_leaves_the_others() {
        let mut u = Unrouted::new(10);
        u.push(message("a/1", 1));
        u.push(message("b/1", 2));
        u.push(message("a/2", 3));
        u.push(message("b/2", 4));
        u.push(message("c", 5));
        let filter = TopicFilter::new("a/+").expect("filter");
        let ids: Vec<u64> = u.claim(&filter).iter().map(|m| m.delivery_id).collect();
        assert_eq!(ids, vec![1, 3]);
        assert_eq!(u.len(), 3);
        assert!(u.claim(&filter).is_empty());
        let all = TopicFilter::new("#").expect("filter");
        let ids: Vec<u64> = u.claim(&all).iter().map(|m| m.delivery_id).collect();
        assert_eq!(ids, vec![2, 4, 5]);
        assert!(u.is_empty());
    }

    #[test]
    fn past_its_capacity_the_oldest_message_goes() {
        let mut u = Unrouted::new(2);
        for n in 1..=3 {
            u.push(message("t", n));
        }
        let filter = TopicFilter::new("#").expect("filter");
        let ids: Vec<u64> = u.claim(&filter).iter().map(|m| m.delivery_id).collect();
        assert_eq!(ids, vec![2, 3]);
        assert!(u.is_empty());
    }
}
