import Experiments
import Foundation
import Testing
import TestSupport

/// `train` killed with SIGKILL at seeded random moments leaves only whole, valid files (and
/// perhaps the temporary file of a write it was in), and `--resume` then finishes with the bits
/// of a run never interrupted.
@Suite(.serialized) struct CrashResumeTests {
    /// `--blas-core keep`: no process restarts itself with other kernels, so all run the reference run's.
    static let arguments = ["--config", "small.json", "--threads", "1", "--quiet", "--blas-core", "keep"]

    /// The files a finished run writes whose bytes depend only on the config and seed.
    static let exactFiles = ["config.json", "model.safetensors", "extrapolation.csv", "extrapolation.svg", "prediction.csv",
                             "prediction.svg", "training-data.csv"]

    /// With LayerNorm, and with BatchNorms, whose running statistics the checkpoints must keep.
    @Test(.timeLimit(.minutes(3)), arguments: [smallRunConfig, smallBatchNormRunConfig, smallKernelRunConfig])
    func killedRunsLeaveWholeFilesAndResumeToTheSameBits(config: String) throws {
        try withTemporaryFolder { folder in
            try AtomicFile.write(config, to: folder + "/small.json")
            let start = monotonicSeconds()
            let reference = try runTrain(Self.arguments + ["--output", "reference"], in: folder)
            let duration = monotonicSeconds() - start
            try #require(reference.exitCode == 0, "\(reference)")

            let killed = folder + "/killed"
            var random = FuzzRandom(seed: 0x5161, case: 0)
            var killedMidRun = 0
            for attempt in 0..<4 {
                let process = try TrainProcess(Self.arguments + ["--output", "killed"] + (attempt > 0 ? ["--resume"] : []), in: folder)
                if attempt == 0 {
                    // Training has begun once the first checkpoint (epoch 10 of 300) is there.
                    while process.isRunning && !FileSystem.exists(killed + "/checkpoint.safetensors") { usleep(1_000) }
                }
                usleep(UInt32(random.generator.nextUniform() * duration * 0.4 * 1e6))
                if process.isRunning { process.kill() }
                let result = process.wait()
                if result.killedBySignal {
                    killedMidRun += 1
                } else {
                    #expect(result.exitCode == 0, "attempt \(attempt): \(result)")
                }
                let problems = runFolderProblems(killed, allowTemporaries: true)
                #expect(problems.isEmpty, "attempt \(attempt): \(problems)")
            }
            #expect(killedMidRun >= 1, "no kill landed during training (the run took \(duration) s)")

            let resumed = try runTrain(Self.arguments + ["--output", "killed", "--resume"], in: folder)
            try #require(resumed.exitCode == 0, "\(resumed)")
            #expect(runFolderProblems(killed, allowTemporaries: false).isEmpty)
            #expect(filesBelow(killed) == filesBelow(folder + "/reference"))
            for name in Self.exactFiles {
                // Both must exist: two missing files would compare equal.
                let resumedBytes = try #require(contentsOrNil(killed + "/" + name), "\(name) is missing from the resumed run")
                let referenceBytes = try #require(contentsOrNil(folder + "/reference/" + name), "\(name) is missing from the reference run")
                #expect(resumedBytes == referenceBytes, "\(name) differs from the uninterrupted run's")
            }
            for name in ["kernel.csv", "kernel.svg"] where FileSystem.exists(folder + "/reference/" + name) {
                #expect(try contentsOrNil(killed + "/" + name) == contentsOrNil(folder + "/reference/" + name), "\(name) differs")
            }
            #expect(try metricsWithoutWallTime(killed + "/metrics.json") == metricsWithoutWallTime(folder + "/reference/metrics.json"))
        }
    }

    /// Temporary files a killed writer left are removed by `--resume`; a live writer's are kept.
    @Test func resumeRemovesAbandonedTemporaryFiles() throws {
        try withTemporaryFolder { folder in
            // No process has pid 2^22 + 1 (the kernel's limit is at most 2^22).
            let abandoned = "checkpoint.safetensors.tmp-4194305-123"
            let live = "config.json.tmp-\(getpid())-456"
            for name in [abandoned, live, "notes.tmp-x"] { try AtomicFile.write("partial", to: folder + "/" + name) }
            #expect(AtomicFile.removeAbandonedTemporaryFiles(in: folder) == [abandoned])
            #expect(filesBelow(folder) == [live, "notes.tmp-x"])
        }
    }
}
