//! The socket options that neither std nor socket2 offers.

use std::io;
use std::os::fd::AsRawFd;

/// Sets `SO_RCVBUFFORCE`, which may exceed `net.core.rmem_max` but needs `CAP_NET_ADMIN`.
/// Returns the error unchanged so that the caller can fall back and explain.
pub(crate) fn force_recv_buffer(socket: &impl AsRawFd, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    set_int(socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, value)
}

/// Sets `UDP_SEGMENT` (Linux 4.18): a send longer than `size` bytes is cut by the kernel into
/// datagrams of `size` bytes (the last may be shorter), one system call for a whole window.
/// 0 turns it off.
pub(crate) fn set_udp_segment(socket: &impl AsRawFd, size: u16) -> io::Result<()> {
    set_int(
        socket,
        libc::SOL_UDP,
        libc::UDP_SEGMENT,
        libc::c_int::from(size),
    )
}

/// Lets the kernel fragment datagrams larger than the path MTU again (quinn-udp turns
/// fragmentation off on the sockets it sets up: right for QUIC, wrong for TFTP, whose blocks
/// rely on IP fragmentation wherever blksize + headers exceed the MTU). IPv6 sockets get both
/// families' options (a dual-stack socket sends IPv4 too); an option the socket's family does
/// not have is skipped.
pub(crate) fn allow_fragments(socket: &impl AsRawFd, ipv6: bool) {
    let mut options = vec![(
        libc::IPPROTO_IP,
        libc::IP_MTU_DISCOVER,
        libc::IP_PMTUDISC_DONT,
    )];
    if ipv6 {
        options.push((
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_DONT,
        ));
        options.push((libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 0));
    }
    for (level, name, value) in options {
        if let Err(e) = set_int(socket, level, name, value) {
            tracing::debug!("socket option {level}/{name} = {value}: {e}");
        }
    }
}

#[allow(unsafe_code)] // one setsockopt call with a correctly sized c_int; no memory is shared
fn set_int(
    socket: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the fd is open for the duration of the call (borrowed), and the option value
    // points to a live c_int whose exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(&value).cast(),
            libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
