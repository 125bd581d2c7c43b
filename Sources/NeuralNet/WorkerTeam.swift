import CKernels
import Glibc
import Synchronization

/// Work for a `WorkerTeam`: `run(thread:)` is called once per thread of the team, concurrently.
/// An object rather than a closure: a closure handed to other threads is allocated on the heap,
/// once per job, and the team runs several jobs per training step.
public protocol TeamJob: AnyObject {
    func run(thread: Int)
}

/// A fixed team of threads that run one job together: `run(job)` calls `job.run(thread:)` with
/// 0 on the calling thread and 1..<size on the team's own threads, and returns when every call
/// has returned.
///
/// Made for jobs of tens of microseconds (half a training step), where a dispatch queue's
/// hand-off, or waking a sleeping thread, costs as much as the job. Between jobs the team's
/// threads spin on a counter for `spinMicroseconds`, then sleep on a condition variable until the
/// next job. Use one team from one thread at a time; `run` is not reentrant.
public final class WorkerTeam: @unchecked Sendable {
    /// Threads taking part in a job, the caller's included.
    public let size: Int
    private let shared: Shared
    private var threads: [pthread_t] = []

    /// How long an idle thread keeps spinning before it sleeps: long enough to span the gap
    /// between two jobs of one training step, short enough not to hold a core between epochs.
    public static let spinMicroseconds = 200

    /// What the caller and the team's threads share (the threads hold this, not the team, so that
    /// dropping the team stops them).
    final class Shared: @unchecked Sendable {
        /// Bumped once per job (and once to stop): a thread runs a job when it sees it change.
        let generation = Atomic<Int>(0)
        /// Team threads done with the current job.
        let finished = Atomic<Int>(0)
        /// Team threads asleep on `condition` (or about to be): the caller wakes them only then.
        let sleepers = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        /// The current job; written by the caller before `generation` is bumped, read after.
        /// Not retained: `run` holds it until every thread is done with it.
        nonisolated(unsafe) unowned(unsafe) var job: (any TeamJob)?

        init() {
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(condition, nil)
        }

        deinit {
            pthread_cond_destroy(condition)
            pthread_mutex_destroy(mutex)
            mutex.deallocate()
            condition.deallocate()
        }

        /// Announces the next job (or the stop) to every thread, waking those asleep.
        func publish() {
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(condition)
                pthread_mutex_unlock(mutex)
            }
        }

        /// A team thread's life: wait for a new generation, run the job with `index`, report.
        func work(index: Int) {
            var seen = 0
            while true {
                seen = waitForChange(from: seen)
                if stopping.load(ordering: .acquiring) { return }
                job!.run(thread: index)
                finished.add(1, ordering: .releasing)
            }
        }

        /// Spins until `generation` differs from `seen`, then sleeps; returns the new value.
        private func waitForChange(from seen: Int) -> Int {
            let deadline = monotonicNanoseconds() + WorkerTeam.spinMicroseconds * 1000
            var spins = 0
            while true {
                let current = generation.load(ordering: .acquiring)
                if current != seen { return current }
                finitewidth_cpu_relax()
                spins &+= 1
                if spins & 63 == 0 && monotonicNanoseconds() > deadline { break }
            }
            // The caller bumps `generation` before reading `sleepers`, and this thread counts
            // itself in `sleepers` before reading `generation` again, so a bump is never missed.
            pthread_mutex_lock(mutex)
            sleepers.add(1, ordering: .sequentiallyConsistent)
            var current = generation.load(ordering: .sequentiallyConsistent)
            while current == seen {
                pthread_cond_wait(condition, mutex)
                current = generation.load(ordering: .sequentiallyConsistent)
            }
            sleepers.subtract(1, ordering: .sequentiallyConsistent)
            pthread_mutex_unlock(mutex)
            return current
        }
    }

    /// A team of `size` threads: the caller of `run` and `size - 1` new ones.
    public init(size: Int) {
        precondition(size >= 1, "WorkerTeam: expected at least 1 thread, got \(size)")
        self.size = size
        shared = Shared()
        for index in 1..<size {
            let context = Unmanaged.passRetained(ThreadContext(shared: shared, index: index)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { context in
                let threadContext = Unmanaged<ThreadContext>.fromOpaque(context!).takeRetainedValue()
                threadContext.shared.work(index: threadContext.index)
                return nil
            }, context)
            precondition(status == 0, "WorkerTeam: pthread_create failed with error \(status)")
            threads.append(thread)
        }
    }

    deinit {
        shared.stopping.store(true, ordering: .releasing)
        shared.publish()
        for thread in threads { pthread_join(thread, nil) }
    }

    /// Calls `job.run(thread:)` for every thread in 0..<size, 0 on this thread, the others on the
    /// team's threads, and returns when all have returned.
    public func run(_ job: some TeamJob) {
        guard size > 1 else { return job.run(thread: 0) }
        withExtendedLifetime(job) {
            shared.job = job
            shared.finished.store(0, ordering: .relaxed)
            shared.publish()
            job.run(thread: 0)
            var spins = 0
            while shared.finished.load(ordering: .acquiring) < size - 1 {
                finitewidth_cpu_relax()
                spins &+= 1
                // A team thread that lost its core: let it have this one.
                if spins & 1023 == 0 { sched_yield() }
            }
            shared.job = nil
        }
    }
}

/// What a new team thread needs: passed through pthread_create's context pointer.
private final class ThreadContext {
    let shared: WorkerTeam.Shared
    let index: Int
    init(shared: WorkerTeam.Shared, index: Int) {
        self.shared = shared
        self.index = index
    }
}

private func monotonicNanoseconds() -> Int {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return time.tv_sec * 1_000_000_000 + time.tv_nsec
}
