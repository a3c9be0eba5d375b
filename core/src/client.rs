//! The Client state machine. (Stub.)
pub struct Client;
pub enum Action {}
pub enum Event {}
pub struct Message;
pub struct PublishRequest;
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub u64);
