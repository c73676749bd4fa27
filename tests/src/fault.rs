//! The fault layer: scripted misbehaviour at the broker's edge, so that scenarios can test
//! how client cores cope with a broker that loses, repeats, reorders or rewrites frames
//! or drops connections, while the broker itself stays the real one.

use std::fmt;
use std::time::Duration;

use fastport_client_core::codec::Frame;

/// Which way a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From a client into the broker core.
    ToBroker,
    /// From the broker core out to a client.
    ToClient,
}

/// What a fault does to a frame it matches.
pub enum Action {
    /// The frame vanishes; its connection stays up.
    Drop,
    /// The frame goes through twice in a row.
    Duplicate,
    /// The frame is held back this long; frames of its connection sent meanwhile overtake
    /// it.
    Delay(Duration),
    /// This frame goes through instead.
    Rewrite(Box<dyn FnMut(Frame) -> Frame>),
    /// The frame is lost and the broker closes its connection with this WebSocket close
    /// code, as if the server had ended it.
    Close(u16),
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Drop => f.write_str("Drop"),
            Action::Duplicate => f.write_str("Duplicate"),
            Action::Delay(d) => f.debug_tuple("Delay").field(d).finish(),
            Action::Rewrite(_) => f.write_str("Rewrite(..)"),
            Action::Close(code) => f.debug_tuple("Close").field(code).finish(),
        }
    }
}

/// One rule: frames travelling one way that a predicate picks get an [`Action`], every
/// time or for the first `n` matches.
pub struct Fault {
    direction: Direction,
    matches: Box<dyn FnMut(&Frame) -> bool>,
    action: Action,
    remaining: Option<u32>,
    hits: u32,
}

impl Fault {
    /// A fault on frames from clients to the broker.
    pub fn to_broker(action: Action, matches: impl FnMut(&Frame) -> bool + 'static) -> Fault {
        Fault::new(Direction::ToBroker, action, matches)
    }

    /// A fault on frames from the broker to clients.
    pub fn to_client(action: Action, matches: impl FnMut(&Frame) -> bool + 'static) -> Fault {
        Fault::new(Direction::ToClient, action, matches)
    }

    /// Applies to the first `n` matching frames only.
    pub fn times(mut self, n: u32) -> Fault {
        self.remaining = Some(n);
        self
    }

    /// How many frames it has acted on.
    pub fn hits(&self) -> u32 {
        self.hits
    }

    fn new(
        direction: Direction,
        action: Action,
        matches: impl FnMut(&Frame) -> bool + 'static,
    ) -> Fault {
        Fault {
            direction,
            matches: Box::new(matches),
            action,
            remaining: None,
            hits: 0,
        }
    }

    /// Counts the frame against this rule and hands out its action, if the rule applies.
    fn claim(&mut self, direction: Direction, frame: &Frame) -> Option<&mut Action> {
        if direction != self.direction || self.remaining == Some(0) || !(self.matches)(frame) {
            return None;
        }
        self.hits += 1;
        if let Some(n) = &mut self.remaining {
            *n -= 1;
        }
        Some(&mut self.action)
    }
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fault")
            .field("direction", &self.direction)
            .field("action", &self.action)
            .field("remaining", &self.remaining)
            .field("hits", &self.hits)
            .finish_non_exhaustive()
    }
}

/// What becomes of one frame at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Goes through as these frames (none, one, or the same twice).
    Pass(Vec<Frame>),
    /// Goes through this much later.
    Delay(Duration, Frame),
    /// Lost, and its connection closed with this code.
    Close(u16),
}

/// The rules in force, first match wins.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<Fault>,
}

impl Faults {
    /// Adds a rule, after those already there.
    pub fn add(&mut self, fault: Fault) {
        self.rules.push(fault);
    }

    /// The rules, in the order added.
    pub fn rules(&self) -> &[Fault] {
        &self.rules
    }

    pub(crate) fn fate(&mut self, direction: Direction, frame: Frame) -> Fate {
        match self
            .rules
            .iter_mut()
            .find_map(|r| r.claim(direction, &frame))
        {
            None => Fate::Pass(vec![frame]),
            Some(Action::Drop) => Fate::Pass(Vec::new()),
            Some(Action::Duplicate) => Fate::Pass(vec![frame.clone(), frame]),
            Some(Action::Delay(d)) => Fate::Delay(*d, frame),
            Some(Action::Rewrite(rewrite)) => Fate::Pass(vec![rewrite(frame)]),
            Some(Action::Close(code)) => Fate::Close(*code),
        }
    }
}

#[cfg(test)]
mod tests {
    use fastport_client_core::codec::{Ack, ErrorCode};

    use super::*;

    fn ack(code: ErrorCode) -> Frame {
        Frame::PubAck(Ack { id: 7, code })
    }

    fn is_ack(frame: &Frame) -> bool {
        matches!(frame, Frame::PubAck(_))
    }

    #[test]
    fn frames_no_rule_matches_pass_unchanged() {
        let mut faults = Faults::default();
        faults.add(Fault::to_broker(Action::Drop, is_ack));
        faults.add(Fault::to_client(Action::Drop, |f| {
            matches!(f, Frame::Pong { .. })
        }));
        let fate = faults.fate(Direction::ToClient, ack(ErrorCode::OK));
        assert_eq!(fate, Fate::Pass(vec![ack(ErrorCode::OK)]));
        assert_eq!(faults.rules()[0].hits(), 0);
    }

    #[test]
    fn the_first_matching_rule_wins_and_a_limited_one_stops_after_its_count() {
        let mut faults = Faults::default();
        faults.add(Fault::to_client(Action::Duplicate, is_ack).times(1));
        faults.add(Fault::to_client(Action::Drop, is_ack));
        let twice = Fate::Pass(vec![ack(ErrorCode::OK), ack(ErrorCode::OK)]);
        assert_eq!(faults.fate(Direction::ToClient, ack(ErrorCode::OK)), twice);
        assert_eq!(
            faults.fate(Direction::ToClient, ack(ErrorCode::OK)),
            Fate::Pass(Vec::new())
        );
        let hits: Vec<u32> = faults.rules().iter().map(Fault::hits).collect();
        assert_eq!(hits, vec![1, 1]);
    }

    #[test]
    fn delay_rewrite_and_close_say_what_becomes_of_the_frame() {
        let mut faults = Faults::default();
        let second = Duration::from_secs(1);
        faults.add(Fault::to_client(Action::Delay(second), is_ack).times(1));
        let refuse = |_| ack(ErrorCode::NOT_AUTHORIZED);
        faults.add(Fault::to_client(Action::Rewrite(Box::new(refuse)), is_ack).times(1));
        faults.add(Fault::to_client(Action::Close(4000), is_ack));
        let frame = ack(ErrorCode::OK);
        let fates = [(); 3].map(|()| faults.fate(Direction::ToClient, frame.clone()));
        assert_eq!(
            fates,
            [
                Fate::Delay(second, frame),
                Fate::Pass(vec![ack(ErrorCode::NOT_AUTHORIZED)]),
                Fate::Close(4000),
            ]
        );
    }
}
