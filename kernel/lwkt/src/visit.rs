//! "Visit every CPU in turn, then reply".
//!
//! A visit carries a body to port `p` of CPU 0, then CPU 1, …, CPU N-1 (the same port
//! index on each, so the same service), and the body returns to the originator as the
//! reply once the last CPU is done. Each CPU's thread receives [`Incoming::Visit`], acts on
//! the body (apply a route change to its replica, read its counters into the body…) and
//! passes it on with [`Cpu::visit_next`]. When the originator gets the reply, every CPU
//! has applied the change: `route add` returns only then.
//!
//! The body is moved, never copied or shared, so it can be any `P` — including a boxed
//! closure.
//!
//! [`Incoming::Visit`]: crate::port::Incoming::Visit

use crate::cpu::Cpu;
use crate::ipiq::Doorbell;
use crate::port::{Incoming, ReplyTo};
use crate::CpuId;

/// Carried with a visit's body; hand it back to [`Cpu::visit_next`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VisitToken {
    /// The port index visited on every CPU.
    port: u16,
    /// Where the body goes after the last CPU.
    origin: ReplyTo,
}

impl VisitToken {
    /// Who started the visit.
    pub fn origin(&self) -> ReplyTo {
        self.origin
    }
}

impl<P, D: Doorbell> Cpu<'_, P, D> {
    /// Start a visit of port `port` on every CPU, from our port `from`; the body comes back
    /// to `from` as [`Incoming::Reply`] with the returned tag.
    pub fn visit_start(
        &mut self,
        port: u16,
        from: u16,
        body: P,
        mut wait: impl FnMut(&mut Self),
    ) -> u32 {
        let origin = self.reply_to(from);
        let token = VisitToken { port, origin };
        self.route(CpuId(0), port, Incoming::Visit(token, body), &mut wait);
        origin.tag
    }

    /// This CPU is done with the visit: forward the body to the next CPU, or reply to the
    /// originator if this is the last one.
    pub fn visit_next(&mut self, token: VisitToken, body: P, mut wait: impl FnMut(&mut Self)) {
        let next = usize::from(self.id().0) + 1;
        if next < self.ncpus() {
            let next = CpuId(u16::try_from(next).expect("CPU count fits u16"));
            self.route(next, token.port, Incoming::Visit(token, body), &mut wait);
        } else {
            let o = token.origin;
            self.route(
                o.port.cpu,
                o.port.index,
                Incoming::Reply(o.tag, body),
                &mut wait,
            );
        }
    }

    /// Visit every CPU and wait for the body to come back.
    ///
    /// The visit also reaches `port` on this CPU, whose owner must get to run while we
    /// wait: here `wait` only relaxes, so this suits a caller that is not itself one of the
    /// CPU's threads. A thread uses [`crate::runner::Lwkt::visit_all`], which runs the
    /// CPU's other threads while it waits.
    pub fn visit_all(
        &mut self,
        port: u16,
        from: u16,
        body: P,
        mut wait: impl FnMut(&mut Self),
    ) -> P {
        let tag = self.visit_start(port, from, body, &mut wait);
        self.wait_reply(from, tag, wait)
    }
}
