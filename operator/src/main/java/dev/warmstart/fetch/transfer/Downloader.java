package dev.warmstart.fetch.transfer;

import dev.warmstart.fetch.Failures;
import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.Log;
import dev.warmstart.fetch.TargetPaths;
import dev.warmstart.fetch.source.ModelSource;
import dev.warmstart.fetch.source.RemoteFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.ToLongFunction;

/**
 * Writes the files of a {@link ModelSource} under a target directory, fast and safely.
 *
 * <p>Fast: files of known size are fetched in parts ({@link FetchSettings#partSize()}), many at
 * once across all files (as many requests in flight as fill the link, or {@link
 * FetchSettings#concurrency()}; see {@link TransferPool}), each written in place into a
 * preallocated temporary file ({@link RangedDownload}); a part that fails is retried alone with
 * backoff, and one that stalls is cut and retried. Files of unknown size and servers that ignore
 * Range fall back to one stream per file ({@link StreamDownload}). A restarted run resumes partial
 * files ({@link ResumeState}) and skips files already in place.
 *
 * <p>Safe: each file is checked (its size always, and the best checksum the listing or the source
 * states) before it is made durable and renamed atomically to its final name ({@link TempFile}); a
 * corrupt file is removed, never placed. The first failure that retries do not fix stops the whole
 * run.
 */
public final class Downloader {

  /**
   * What was fetched: bytes transferred, files now in place, and the time taken including the
   * listing.
   */
  public record Result(long bytes, int files, Duration elapsed) {}

  public static final String TEMP_SUFFIX = TempFile.SUFFIX;

  private final Path root;
  private final Log log;
  private final FetchSettings settings;

  /** Free bytes on the volume holding a path (0 if unknown); tests replace it. */
  ToLongFunction<Path> freeSpace = Downloader::usableSpace;

  public Downloader(Path root, Log log, FetchSettings settings) {
    this.root = root.toAbsolutePath().normalize();
    this.log = log;
    this.settings = settings;
  }

  public Result fetch(ModelSource source) throws IOException {
    long start = System.nanoTime();
    List<RemoteFile> files =
        new Retries(settings, log, () -> false)
            .call("listing " + source.displayUri(), source::list);
    List<Path> targets = plan(files);
    long known = files.stream().filter(RemoteFile::sizeKnown).mapToLong(RemoteFile::size).sum();
    long unknown = files.stream().filter(f -> !f.sizeKnown()).count();
    log.info(
        "%d file(s), %s",
        files.size(),
        unknown == 0
            ? Progress.bytes(known)
            : unknown == files.size()
                ? "size not listed"
                : Progress.bytes(known) + " + " + unknown + " of unknown size");
    try {
      Files.createDirectories(root);
    } catch (IOException e) {
      throw new FetchException(
          "cannot create the target directory "
              + root
              + ": "
              + Failures.describe(e)
              + ": check the model volume's mount and permissions",
          false,
          e);
    }
    checkSpace(files, targets);

    Progress progress = new Progress(log, files);
    ScheduledExecutorService timer =
        Executors.newSingleThreadScheduledExecutor(TransferPool.threads("fetch-model-timer"));
    long interval = settings.progressInterval().toMillis();
    timer.scheduleAtFixedRate(progress::report, interval, interval, TimeUnit.MILLISECONDS);
    // Coordinators only wait, check and rename; the transfers run in the pool's slots.
    boolean auto = settings.concurrency() == FetchSettings.AUTO;
    int maxSlots = auto ? FetchSettings.AUTO_MAX : settings.concurrency();
    ExecutorService coordinators =
        Executors.newFixedThreadPool(
            Math.min(files.size(), maxSlots), TransferPool.threads("fetch-model-file"));
    try (TransferPool pool =
        new TransferPool(
            maxSlots,
            settings.stallTimeout(),
            timer,
            auto ? ConcurrencyProbe.upTo(maxSlots) : null,
            progress::transferred,
            settings.shareTail())) {
      Retries retries = new Retries(settings, log, pool::aborted);
      List<Future<?>> running = new ArrayList<>();
      for (int i = 0; i < files.size(); i++) {
        FileFetch fetch =
            new FileFetch(
                source, files.get(i), targets.get(i), settings, log, progress, pool, retries);
        running.add(
            coordinators.submit(
                () -> {
                  try {
                    fetch.run();
                    progress.fileDone();
                  } catch (IOException e) {
                    pool.abort(e);
                  } catch (RuntimeException e) {
                    pool.abort(new IOException("internal error: " + Failures.describe(e), e));
                  }
                  return null;
                }));
      }
      for (Future<?> f : running) {
        try {
          f.get();
        } catch (ExecutionException e) {
          pool.abort(new IOException(Failures.describe(e.getCause()), e.getCause()));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          pool.abort(new java.io.InterruptedIOException("interrupted"));
        }
      }
      if (pool.failure() != null) {
        throw pool.failure();
      }
      progress.finish();
      return new Result(
          progress.transferred(), files.size(), Duration.ofNanos(System.nanoTime() - start));
    } finally {
      coordinators.shutdownNow();
      timer.shutdownNow();
    }
  }

  /** The final path of each file, checked before any byte is written. */
  private List<Path> plan(List<RemoteFile> files) throws FetchException {
    if (files.isEmpty()) {
      throw FetchException.fatal("the listing is empty");
    }
    List<Path> targets = new ArrayList<>(files.size());
    Set<Path> seen = new HashSet<>();
    for (RemoteFile f : files) {
      Path p = TargetPaths.resolve(root, f.path());
      if (!seen.add(p)) {
        throw FetchException.fatal(
            "the listing has '" + TargetPaths.printable(f.path()) + "' twice");
      }
      targets.add(p);
    }
    // A file and a directory of the same name cannot both exist: say so before writing either.
    for (int i = 0; i < files.size(); i++) {
      for (Path dir = targets.get(i).getParent();
          dir != null && !dir.equals(root);
          dir = dir.getParent()) {
        if (seen.contains(dir)) {
          throw FetchException.fatal(
              "the listing has both '"
                  + TargetPaths.printable(root.relativize(dir).toString().replace('\\', '/'))
                  + "' and '"
                  + TargetPaths.printable(files.get(i).path())
                  + "': one path cannot be a file and a directory");
        }
      }
    }
    return targets;
  }

  /**
   * Fails early, rather than at 90 %, when the volume cannot hold what is left to fetch (files in
   * place and parts on disk from an earlier run do not count). Sizes the listing does not give are
   * not counted.
   */
  private void checkSpace(List<RemoteFile> files, List<Path> targets) throws FetchException {
    long needed = 0;
    for (int i = 0; i < files.size(); i++) {
      RemoteFile f = files.get(i);
      Path target = targets.get(i);
      if (!f.sizeKnown() || (Files.isRegularFile(target) && sizeOf(target) == f.size())) {
        continue;
      }
      ResumeState saved = ResumeState.load(TempFile.pathFor(target), settings.partSize());
      needed +=
          f.size() - (saved != null && saved.plan().size() == f.size() ? saved.doneBytes() : 0);
    }
    long free = freeSpace.applyAsLong(root);
    if (free > 0 && needed > free) {
      throw FetchException.fatal(
          "not enough space in "
              + root
              + ": the model needs "
              + Progress.bytes(needed)
              + " more, the volume has "
              + Progress.bytes(free)
              + " free; give the model volume more space");
    }
  }

  private static long sizeOf(Path p) {
    try {
      return Files.size(p);
    } catch (IOException e) {
      return -1;
    }
  }

  private static long usableSpace(Path p) {
    try {
      return Files.getFileStore(p).getUsableSpace();
    } catch (IOException | RuntimeException e) {
      return 0;
    }
  }
}
