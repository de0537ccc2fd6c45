//! The one socket option that neither std nor socket2 offers.

use std::io;
use std::os::fd::AsRawFd;

/// Sets `SO_RCVBUFFORCE`, which may exceed `net.core.rmem_max` but needs `CAP_NET_ADMIN`.
/// Returns the error unchanged so that the caller can fall back and explain.
#[allow(unsafe_code)] // one setsockopt call with a correctly sized c_int; no memory is shared
pub(crate) fn force_recv_buffer(socket: &impl AsRawFd, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: the fd is open for the duration of the call (borrowed), and the option value
    // points to a live c_int whose exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
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
