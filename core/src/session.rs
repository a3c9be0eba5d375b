//! Packet ids, in-flight sets, the bounded queue. (Stub.)
