//! The discrete-event kernel: an event queue in integer ticks, FIFO
//! counting resources and a processor-sharing link.
//!
//! Design decisions, and why:
//!
//! * **Time is `u64` milliseconds**, never `f64`: ties are exact and the
//!   order of equal-time events is fixed by a sequence number, so a run is
//!   a pure function of its seed (SimPy's `(time, priority, id)` order
//!   without the priority, which fleetlab does not need).
//! * **Events are small `Copy` records** in one `BinaryHeap` reserved up
//!   front; nothing is boxed and nothing allocates per event. A model's
//!   event kind is its own enum; the kernel only orders them.
//! * **Stale events are dropped by generation**, not removed from the heap:
//!   a timer that no longer matters (an ESP timeout after the phase ended,
//!   a link completion after the link's rates changed) carries the
//!   generation it was scheduled under and is ignored when it pops.
//! * **Resources integrate their own statistics** (busy and queue length
//!   over time, per report bucket) at each change, so utilisation and
//!   queue curves cost nothing per event beyond the change itself.
//! * **The link is egalitarian processor sharing in virtual time**: every
//!   active flow gets `min(capacity / n, per_flow_cap)`, and a flow ends
//!   when the link's virtual work passes its start mark plus its size.
//!   Starts and finishes are `O(log n)` instead of touching every flow,
//!   which matters with thousands of laptops downloading at one site.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// Simulated time in milliseconds since the scenario's start.
pub type Tick = u64;

/// Ticks in a minute.
pub const MINUTE: Tick = 60_000;

/// Minutes (fractional) to ticks, rounding to the nearest millisecond;
/// negative or non-finite values become zero.
pub fn ticks(minutes: f64) -> Tick {
    if minutes.is_finite() && minutes > 0.0 {
        // `+ 0.5` and truncation round a positive value to nearest, without
        // libm's `round` (a measurable share of a simulation's time).
        (minutes * MINUTE as f64 + 0.5) as Tick
    } else {
        0
    }
}

/// Ticks to minutes.
pub fn minutes(t: Tick) -> f64 {
    t as f64 / MINUTE as f64
}

/// A future-event list ordered by `(time, insertion sequence)`.
///
/// It is a radix heap over the key `time << 64 | sequence`: simulated time
/// never goes backwards, so every new key is at least the last one taken,
/// and an event only ever moves to a lower bucket. Push is O(1) and pop
/// amortised O(1) with sequential memory access, where a binary heap pays
/// a cache-unfriendly sift of `log n` levels per pop — the largest single
/// cost of a simulation with thousands of devices in flight.
///
/// ```
/// use fleetlab::sim::engine::EventQueue;
/// let mut q = EventQueue::with_capacity(4);
/// q.schedule(5, 'b');
/// q.schedule(5, 'c');
/// q.schedule(1, 'a');
/// let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, k)| k)).collect();
/// assert_eq!(order, ['a', 'b', 'c']); // equal times keep insertion order
/// ```
#[derive(Debug)]
pub struct EventQueue<K> {
    buckets: Vec<Vec<(u128, K)>>,
    /// Bit `i` set when bucket `i` holds events: the first non-empty
    /// bucket is a `trailing_zeros` away instead of a scan of 129.
    occupied: [u64; 3],
    last: u128,
    len: usize,
    seq: u64,
    now: Tick,
    popped: u64,
}

fn bucket_of(key: u128, last: u128) -> usize {
    (128 - (key ^ last).leading_zeros()) as usize
}

impl<K: Copy> EventQueue<K> {
    /// An empty queue with room for `n` pending events.
    pub fn with_capacity(n: usize) -> Self {
        let mut buckets: Vec<Vec<(u128, K)>> = (0..129).map(|_| Vec::new()).collect();
        if let Some(b) = buckets.get_mut(128) {
            b.reserve(n);
        }
        EventQueue { buckets, occupied: [0; 3], last: 0, len: 0, seq: 0, now: 0, popped: 0 }
    }

    /// The time of the last event popped.
    pub fn now(&self) -> Tick {
        self.now
    }

    /// Events popped so far.
    pub fn popped(&self) -> u64 {
        self.popped
    }

    /// Pending events.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No pending events.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Schedules `kind` at `time`; a time in the past runs now (the model
    /// never moves the clock backwards).
    pub fn schedule(&mut self, time: Tick, kind: K) {
        let time = time.max(self.now);
        let key = (u128::from(time) << 64) | u128::from(self.seq);
        self.seq += 1;
        let i = bucket_of(key, self.last);
        if let Some(b) = self.buckets.get_mut(i) {
            b.push((key, kind));
            self.len += 1;
            self.occupied[i / 64] |= 1 << (i % 64);
        }
    }

    /// Schedules `kind` after `delay`.
    pub fn after(&mut self, delay: Tick, kind: K) {
        self.schedule(self.now.saturating_add(delay), kind);
    }

    fn first_occupied(&self) -> Option<usize> {
        self.occupied
            .iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(k, w)| k * 64 + w.trailing_zeros() as usize)
    }

    /// Makes bucket 0 hold the smallest pending key.
    fn settle(&mut self) -> bool {
        let Some(i) = self.first_occupied() else { return false };
        if i == 0 {
            return true;
        }
        let mut items = std::mem::take(&mut self.buckets[i]);
        self.occupied[i / 64] &= !(1 << (i % 64));
        let Some(min) = items.iter().map(|e| e.0).min() else { return false };
        self.last = min;
        for e in &items {
            let j = bucket_of(e.0, min);
            if let Some(b) = self.buckets.get_mut(j) {
                b.push(*e);
                self.occupied[j / 64] |= 1 << (j % 64);
            }
        }
        // Keep the emptied bucket's allocation for the next time it fills.
        items.clear();
        self.buckets[i] = items;
        true
    }

    /// The next event, advancing the clock.
    pub fn pop(&mut self) -> Option<(Tick, K)> {
        if !self.settle() {
            return None;
        }
        let first = self.buckets.first_mut()?;
        let (key, kind) = first.pop()?;
        if first.is_empty() {
            self.occupied[0] &= !1;
        }
        self.len -= 1;
        let time = (key >> 64) as Tick;
        self.now = time;
        self.popped += 1;
        Some((time, kind))
    }

    /// The time of the next event without taking it.
    pub fn peek_time(&mut self) -> Option<Tick> {
        if !self.settle() {
            return None;
        }
        self.buckets.first()?.last().map(|e| (e.0 >> 64) as Tick)
    }
}

/// Time-bucketed integrals of a level (busy units, queue length), for
/// utilisation and queue curves.
#[derive(Clone, Debug)]
pub struct Timeline {
    bucket: Tick,
    /// Per bucket, level × ticks.
    pub area: Vec<f64>,
    last: Tick,
    level: f64,
    /// The highest level seen.
    pub peak: f64,
}

impl Timeline {
    /// `buckets` buckets of `bucket` ticks; time past the last bucket is
    /// counted in it.
    pub fn new(bucket: Tick, buckets: usize) -> Self {
        Timeline { bucket: bucket.max(1), area: vec![0.0; buckets.max(1)], last: 0, level: 0.0, peak: 0.0 }
    }

    /// Integrates the current level up to `now`, then sets the new level.
    pub fn set(&mut self, now: Tick, level: f64) {
        self.advance(now);
        self.level = level;
        if level > self.peak {
            self.peak = level;
        }
    }

    /// Integrates the current level up to `now`.
    pub fn advance(&mut self, now: Tick) {
        let last_bucket = self.area.len() - 1;
        while self.last < now {
            let b = ((self.last / self.bucket) as usize).min(last_bucket);
            let end = if b == last_bucket { now } else { ((b as Tick + 1) * self.bucket).min(now) };
            self.area[b] += self.level * (end - self.last) as f64;
            self.last = end;
        }
    }

    /// The current level.
    pub fn level(&self) -> f64 {
        self.level
    }

    /// Level × ticks over the whole run so far.
    pub fn total(&self) -> f64 {
        self.area.iter().sum()
    }
}

/// A counting resource with a FIFO queue: technicians, bench ports,
/// hybrid connectors, the admin queue.
///
/// ```
/// use fleetlab::sim::engine::Resource;
/// let mut techs = Resource::new("technicians", 1, 60_000, 10);
/// assert!(techs.acquire(0, 7)); // device 7 gets the technician
/// assert!(!techs.acquire(0, 8)); // device 8 waits
/// assert_eq!(techs.release(1_000), Some(8)); // and gets it when 7 is done
/// ```
#[derive(Clone, Debug)]
pub struct Resource {
    /// Name in reports.
    pub name: String,
    capacity: u32,
    busy: u32,
    queue: VecDeque<u32>,
    /// Busy units over time.
    pub busy_line: Timeline,
    /// Queue length over time.
    pub queue_line: Timeline,
    /// Capacity over time (shifts change it).
    pub capacity_line: Timeline,
    /// Total waiting time of everyone granted, and how many were granted.
    pub waited: (Tick, u64),
    /// Each wait longer than zero, in grant order (the zeros are
    /// `waited.1` minus their number): the wait distribution and
    /// P(wait > 0) come from it.
    pub waits: Vec<Tick>,
    enqueued_at: VecDeque<Tick>,
}

impl Resource {
    /// A resource of `capacity` units with report buckets of `bucket` ticks.
    pub fn new(name: &str, capacity: u32, bucket: Tick, buckets: usize) -> Self {
        let mut capacity_line = Timeline::new(bucket, buckets);
        capacity_line.set(0, f64::from(capacity));
        Resource {
            name: name.to_string(),
            capacity,
            busy: 0,
            queue: VecDeque::new(),
            busy_line: Timeline::new(bucket, buckets),
            queue_line: Timeline::new(bucket, buckets),
            capacity_line,
            waited: (0, 0),
            waits: Vec::new(),
            enqueued_at: VecDeque::new(),
        }
    }

    /// Units in use.
    pub fn busy(&self) -> u32 {
        self.busy
    }

    /// Units in total now.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Entities waiting.
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// Asks for one unit for `who`: `true` when granted now, otherwise
    /// `who` joins the queue and is returned by a later [`release`](Self::release).
    pub fn acquire(&mut self, now: Tick, who: u32) -> bool {
        if self.busy < self.capacity && self.queue.is_empty() {
            self.busy += 1;
            self.busy_line.set(now, f64::from(self.busy));
            self.waited.1 += 1;
            true
        } else {
            self.queue.push_back(who);
            self.enqueued_at.push_back(now);
            self.queue_line.set(now, self.queue.len() as f64);
            false
        }
    }

    /// Gives a unit back; returns the entity that now holds it, if one was
    /// waiting (the unit passes straight to it).
    pub fn release(&mut self, now: Tick) -> Option<u32> {
        self.busy = self.busy.saturating_sub(1);
        let next = self.grant(now);
        self.busy_line.set(now, f64::from(self.busy));
        next
    }

    fn grant(&mut self, now: Tick) -> Option<u32> {
        if self.busy >= self.capacity {
            return None;
        }
        let who = self.queue.pop_front()?;
        let since = self.enqueued_at.pop_front().unwrap_or(now);
        let wait = now.saturating_sub(since);
        self.waited.0 += wait;
        self.waited.1 += 1;
        if wait > 0 {
            self.waits.push(wait);
        }
        self.busy += 1;
        self.queue_line.set(now, self.queue.len() as f64);
        Some(who)
    }

    /// Changes the capacity (a shift starts or ends). Units in use above
    /// the new capacity finish their work; entities granted by a larger
    /// capacity are pushed to `granted`.
    pub fn set_capacity(&mut self, now: Tick, capacity: u32, granted: &mut Vec<u32>) {
        self.capacity = capacity;
        self.capacity_line.set(now, f64::from(capacity));
        while let Some(who) = self.grant(now) {
            granted.push(who);
        }
        self.busy_line.set(now, f64::from(self.busy));
    }

    /// Closes the statistics at the end of the run.
    pub fn finish(&mut self, now: Tick) {
        self.busy_line.advance(now);
        self.queue_line.advance(now);
        self.capacity_line.advance(now);
    }
}

/// One download on a [`PsLink`].
#[derive(Clone, Copy, Debug)]
struct Flow {
    /// Virtual work at which the flow is done.
    finish: f64,
    owner: u32,
    /// False once completed or cancelled; a dead flow's heap entry is
    /// dropped when it reaches the top, and only then is its slot reused.
    live: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct FinishKey(f64, u32);
impl Eq for FinishKey {}
impl PartialOrd for FinishKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for FinishKey {
    // Reversed for a min-heap; ties by flow slot for determinism.
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}

/// A site uplink shared by processor sharing: `n` active downloads each
/// get `min(capacity / n, per_flow_cap)` bytes per tick.
///
/// The link schedules nothing itself: after every [`start`](Self::start)
/// or [`complete_due`](Self::complete_due) the model asks
/// [`next_completion`](Self::next_completion) and schedules one wake-up
/// carrying [`generation`](Self::generation); a wake-up whose generation is
/// no longer current is stale and ignored.
///
/// ```
/// use fleetlab::sim::engine::PsLink;
/// // 1,000 bytes per tick, no per-flow cap; two flows of 1,000 bytes.
/// let mut link = PsLink::new(1_000.0, f64::INFINITY, 1, 1);
/// link.start(0, 1, 1_000.0);
/// link.start(0, 2, 1_000.0);
/// assert_eq!(link.next_completion(), Some(2)); // each gets half the link
/// let mut done = Vec::new();
/// link.complete_due(2, &mut done);
/// assert_eq!(done, [1, 2]);
/// ```
#[derive(Clone, Debug)]
pub struct PsLink {
    capacity: f64,
    per_flow_cap: f64,
    flows: Vec<Flow>,
    free: Vec<u32>,
    heap: BinaryHeap<FinishKey>,
    active: u32,
    virtual_work: f64,
    last: Tick,
    generation: u32,
    /// Active downloads over time.
    pub active_line: Timeline,
    /// Throughput over time (bytes per tick; its area is bytes per bucket).
    pub bytes_line: Timeline,
    /// Bytes moved over the link.
    pub bytes: f64,
}

impl PsLink {
    /// A link of `capacity` bytes per tick, each flow capped at
    /// `per_flow_cap` bytes per tick (a device's own network speed).
    pub fn new(capacity: f64, per_flow_cap: f64, bucket: Tick, buckets: usize) -> Self {
        PsLink {
            capacity: capacity.max(f64::MIN_POSITIVE),
            per_flow_cap: per_flow_cap.max(f64::MIN_POSITIVE),
            flows: Vec::new(),
            free: Vec::new(),
            heap: BinaryHeap::new(),
            active: 0,
            virtual_work: 0.0,
            last: 0,
            generation: 0,
            active_line: Timeline::new(bucket, buckets),
            bytes_line: Timeline::new(bucket, buckets),
            bytes: 0.0,
        }
    }

    /// Bytes per tick each active flow gets now.
    pub fn rate(&self) -> f64 {
        if self.active == 0 {
            0.0
        } else {
            (self.capacity / f64::from(self.active)).min(self.per_flow_cap)
        }
    }

    /// Share of the link in use now (1.0 when the flows saturate it).
    pub fn utilisation(&self) -> f64 {
        self.rate() * f64::from(self.active) / self.capacity
    }

    /// Active downloads.
    pub fn active(&self) -> u32 {
        self.active
    }

    /// The generation a wake-up must carry to be current.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    fn advance(&mut self, now: Tick) {
        let dt = now.saturating_sub(self.last) as f64;
        let rate = self.rate();
        self.virtual_work += rate * dt;
        self.bytes += rate * dt * f64::from(self.active);
        self.last = now.max(self.last);
    }

    fn changed(&mut self, now: Tick) {
        self.generation = self.generation.wrapping_add(1);
        self.active_line.set(now, f64::from(self.active));
        let throughput = self.rate() * f64::from(self.active);
        self.bytes_line.set(now, throughput);
    }

    /// Starts a download of `bytes` for `owner`; returns the flow's slot,
    /// the handle for [`cancel`](Self::cancel).
    pub fn start(&mut self, now: Tick, owner: u32, bytes: f64) -> u32 {
        self.advance(now);
        let flow = Flow { finish: self.virtual_work + bytes.max(0.0), owner, live: true };
        let slot = match self.free.pop() {
            Some(s) => {
                if let Some(f) = self.flows.get_mut(s as usize) {
                    *f = flow;
                }
                s
            }
            None => {
                self.flows.push(flow);
                (self.flows.len() - 1) as u32
            }
        };
        self.heap.push(FinishKey(flow.finish, slot));
        self.active += 1;
        self.changed(now);
        slot
    }

    /// Cancels the flow in `slot` (its device timed out, failed or was
    /// reset): its share goes back to the other flows at once. Returns the
    /// bytes it still had to fetch, or `None` when the flow had already
    /// ended.
    ///
    /// ```
    /// use fleetlab::sim::engine::PsLink;
    /// let mut link = PsLink::new(1.0, f64::INFINITY, 1, 1);
    /// let a = link.start(0, 1, 100.0);
    /// link.start(0, 2, 100.0);
    /// assert_eq!(link.cancel(50, a), Some(75.0)); // 25 bytes fetched at half speed
    /// assert_eq!(link.next_completion(), Some(125)); // the other one alone again
    /// ```
    pub fn cancel(&mut self, now: Tick, slot: u32) -> Option<f64> {
        self.advance(now);
        let f = self.flows.get_mut(slot as usize).filter(|f| f.live)?;
        f.live = false;
        let left = (f.finish - self.virtual_work).max(0.0);
        self.active = self.active.saturating_sub(1);
        self.drop_dead();
        self.changed(now);
        Some(left)
    }

    /// Pops dead flows off the top of the heap so that the top is live.
    fn drop_dead(&mut self) {
        while let Some(&FinishKey(_, slot)) = self.heap.peek() {
            if self.flows.get(slot as usize).is_some_and(|f| f.live) {
                break;
            }
            self.heap.pop();
            self.free.push(slot);
        }
    }

    /// When the next download ends at current rates, if any is active.
    pub fn next_completion(&self) -> Option<Tick> {
        let FinishKey(finish, _) = *self.heap.peek()?;
        let rate = self.rate();
        let left = (finish - self.virtual_work).max(0.0);
        // Round up so the wake-up never comes before the bytes are there.
        Some(self.last + (left / rate).ceil() as Tick)
    }

    /// Ends every download due by `now`, pushing their owners to `done`
    /// (in finish order).
    pub fn complete_due(&mut self, now: Tick, done: &mut Vec<u32>) {
        self.advance(now);
        let mut any = false;
        // A tolerance of one byte absorbs the rounding of tick times.
        while let Some(&FinishKey(finish, slot)) = self.heap.peek() {
            let live = self.flows.get(slot as usize).is_some_and(|f| f.live);
            if live && finish > self.virtual_work + 1.0 {
                break;
            }
            self.heap.pop();
            if !live {
                self.free.push(slot);
                continue;
            }
            if let Some(f) = self.flows.get_mut(slot as usize) {
                f.live = false;
                done.push(f.owner);
            }
            self.free.push(slot);
            self.active = self.active.saturating_sub(1);
            any = true;
        }
        if any {
            self.changed(now);
        }
    }

    /// Closes the statistics at the end of the run.
    pub fn finish(&mut self, now: Tick) {
        self.advance(now);
        self.active_line.advance(now);
        self.bytes_line.advance(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_pops_in_time_then_insertion_order() {
        // Interleaved pushes and pops against a sorted reference.
        let mut q = EventQueue::with_capacity(8);
        let mut reference: Vec<(Tick, u64)> = Vec::new();
        let mut x: u64 = 12345;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut seq = 0u64;
        for round in 0..2000 {
            for _ in 0..(next() % 4) {
                let t = q.now() + next() % 50;
                q.schedule(t, seq);
                reference.push((t, seq));
                seq += 1;
            }
            if round % 3 != 0 {
                reference.sort_unstable();
                if let Some((t, k)) = q.pop() {
                    let want = reference.remove(0);
                    assert_eq!((t, k), want);
                }
            }
        }
        reference.sort_unstable();
        for want in reference {
            assert_eq!(q.pop(), Some(want));
        }
        assert!(q.is_empty() && q.pop().is_none());
    }

    #[test]
    fn timeline_splits_buckets() {
        let mut t = Timeline::new(10, 3);
        t.set(5, 2.0);
        t.set(25, 0.0);
        t.advance(40);
        assert_eq!(t.area, vec![10.0, 20.0, 10.0]);
    }

    #[test]
    fn resource_counts_waits() {
        let mut r = Resource::new("r", 1, 100, 1);
        assert!(r.acquire(0, 1));
        assert!(!r.acquire(10, 2));
        assert_eq!(r.release(50), Some(2));
        assert_eq!(r.waited, (40, 2));
        assert_eq!(r.waits, [40]);
        assert_eq!(r.waiting(), 0);
        assert_eq!(r.release(60), None);
        r.finish(100);
        assert_eq!(r.busy_line.total(), 60.0);
    }

    #[test]
    fn shift_change_grants_waiters() {
        let mut r = Resource::new("r", 0, 100, 1);
        assert!(!r.acquire(0, 1));
        assert!(!r.acquire(0, 2));
        let mut granted = Vec::new();
        r.set_capacity(5, 1, &mut granted);
        assert_eq!(granted, [1]);
    }

    #[test]
    fn ps_link_reschedules_on_arrival() {
        // 1 byte/tick. Flow A (100 bytes) alone for 50 ticks, then B (100) joins.
        let mut l = PsLink::new(1.0, f64::INFINITY, 1000, 1);
        l.start(0, 1, 100.0);
        assert_eq!(l.next_completion(), Some(100));
        l.start(50, 2, 100.0);
        // A has 50 left at half speed: done at 150; B then alone with 50 left: 200.
        assert_eq!(l.next_completion(), Some(150));
        let mut done = Vec::new();
        l.complete_due(150, &mut done);
        assert_eq!(done, [1]);
        assert_eq!(l.next_completion(), Some(200));
    }

    #[test]
    fn cancelled_flow_frees_its_share_and_its_slot() {
        let mut l = PsLink::new(1.0, f64::INFINITY, 1000, 1);
        let a = l.start(0, 1, 100.0);
        let b = l.start(0, 2, 1000.0);
        assert_eq!(l.cancel(20, a), Some(90.0));
        assert_eq!(l.cancel(20, a), None, "a flow is cancelled once");
        assert_eq!(l.active(), 1);
        // B fetched 10 of 1,000 at half speed, the rest at full speed.
        assert_eq!(l.next_completion(), Some(1010));
        let c = l.start(30, 3, 10.0);
        assert_ne!(c, b);
        let mut done = Vec::new();
        l.complete_due(50, &mut done);
        assert_eq!(done, [3]);
        l.finish(50);
        assert!((l.bytes - 50.0).abs() < 1e-9, "{}", l.bytes);
        assert!(l.cancel(60, b).is_some());
        assert_eq!(l.next_completion(), None);
    }

    #[test]
    fn per_flow_cap_limits_a_lone_flow() {
        let mut l = PsLink::new(10.0, 2.0, 1000, 1);
        l.start(0, 1, 100.0);
        assert_eq!(l.next_completion(), Some(50));
    }
}
