//! Topic names and topic filters: validation, matching, and "filter A covers filter B".
//! (Interface stub: the full specification-exact version replaces this.)

/// Why a topic name or filter is not valid MQTT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    #[error("topic is empty")]
    Empty,
    #[error("topic is {0} bytes, more than the 65535 allowed")]
    TooLong(usize),
    #[error("topic contains U+0000")]
    NullChar,
    #[error("wildcard in a topic name")]
    WildcardInName,
    #[error("wildcard '{0}' does not occupy a whole level")]
    WildcardNotWholeLevel(char),
    #[error("'#' is not the last level")]
    HashNotLast,
}

/// A valid topic name (no wildcards).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(String);

impl TopicName {
    pub fn new(name: impl Into<String>) -> Result<TopicName, TopicError> {
        let name = name.into();
        if name.is_empty() {
            return Err(TopicError::Empty);
        }
        if name.contains(['+', '#']) {
            return Err(TopicError::WildcardInName);
        }
        Ok(TopicName(name))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A valid topic filter (wildcards allowed as whole levels).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(String);

impl TopicFilter {
    pub fn new(filter: impl Into<String>) -> Result<TopicFilter, TopicError> {
        let filter = filter.into();
        if filter.is_empty() {
            return Err(TopicError::Empty);
        }
        Ok(TopicFilter(filter))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Does this filter match the topic name?
    pub fn matches(&self, topic: &TopicName) -> bool {
        self.0 == "#" || self.0 == topic.0
    }
    /// Does every topic that `other` matches also match `self`?
    pub fn covers(&self, other: &TopicFilter) -> bool {
        self.0 == "#" || self.0 == other.0
    }
}
