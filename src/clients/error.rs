//! What every client error says about itself: whether retrying can help.
//! Lives below the clients and the jobs so both can use it without importing each other.

/// Errors of clients (one per external system) say whether retrying can help.
pub trait Transience {
    fn is_transient(&self) -> bool;
}
