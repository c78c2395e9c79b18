//! Boot code (being written).
#![no_std]
