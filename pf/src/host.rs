//! What the parser needs to know about the machine it runs on.
//!
//! pfctl resolves interface names, host names, service names, users and
//! groups through the running system. The parser asks a [`HostEnv`] instead,
//! so the same rules parse the same way on the host, in the kernel, and in
//! tests that describe the machine pfctl's regression tests ran on.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::IpAddr;

/// One address configured on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddr {
    /// The address itself.
    pub addr: IpAddr,
    /// Length of its netmask in bits.
    pub prefix_len: u8,
    /// Peer address of a point-to-point link, if any.
    pub peer: Option<IpAddr>,
}

/// The machine as pfctl sees it while parsing.
pub trait HostEnv {
    /// Addresses of the interface (or interface group) `name`, in the order
    /// the system lists them; `None` if there is no such interface.
    fn interface_addrs(&self, name: &str) -> Option<Vec<IfAddr>>;
    /// Addresses a host name resolves to (empty if it does not resolve).
    fn resolve_host(&self, name: &str) -> Vec<IpAddr>;
    /// Port of service `name` for protocol `proto` (`"tcp"`/`"udp"`, or
    /// `None` for either), as in `/etc/services`.
    fn service_port(&self, name: &str, proto: Option<&str>) -> Option<u16>;
    /// Official service name of `port` for `proto`, as `getservbyport`.
    fn service_name(&self, port: u16, proto: Option<&str>) -> Option<String>;
    /// Numeric id of user `name`.
    fn user_id(&self, name: &str) -> Option<u32>;
    /// Numeric id of group `name`.
    fn group_id(&self, name: &str) -> Option<u32>;
    /// MTU of interface `name` (ALTQ's token bucket size depends on it).
    fn interface_mtu(&self, _name: &str) -> u32 {
        1500
    }
    /// Contents of a file named by an `include` line.
    fn read_file(&self, path: &str) -> Option<Vec<u8>>;
}

/// A machine with no interfaces, no name service and no files: names that
/// need the system fail to resolve, everything literal still parses.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHost;

impl HostEnv for NoHost {
    fn interface_addrs(&self, _name: &str) -> Option<Vec<IfAddr>> {
        None
    }
    fn resolve_host(&self, _name: &str) -> Vec<IpAddr> {
        Vec::new()
    }
    fn service_port(&self, _name: &str, _proto: Option<&str>) -> Option<u16> {
        None
    }
    fn service_name(&self, _port: u16, _proto: Option<&str>) -> Option<String> {
        None
    }
    fn user_id(&self, _name: &str) -> Option<u32> {
        None
    }
    fn group_id(&self, _name: &str) -> Option<u32> {
        None
    }
    fn read_file(&self, _path: &str) -> Option<Vec<u8>> {
        None
    }
}
