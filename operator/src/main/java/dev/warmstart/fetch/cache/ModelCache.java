package dev.warmstart.fetch.cache;

import dev.warmstart.fetch.FetchException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The node-local model cache: a directory on the node (a hostPath) shared by the fetch-model
 * containers of every pod there. A model is downloaded into it once per node, then placed into each
 * pod's model volume (hard links where possible, else copies; see {@link Placement}).
 *
 * <pre>
 * DIR/&lt;key&gt;.lock            empty, kept; locked shared while a fetch reads the entry, exclusively while one fills or deletes it
 * DIR/&lt;key&gt;/files/...       the model, as the source lists it
 * DIR/&lt;key&gt;/manifest.json   written last: the entry is complete; its mtime is the entry's last use
 * DIR/.trash-&lt;key&gt;-N        an evicted entry being deleted
 * </pre>
 *
 * <p>A fetch lists the source (unless the URI pins a commit), computes the {@link CacheKey}, and
 * takes the entry's lock shared: a complete entry whose files are all there with their sizes is a
 * hit. Otherwise it takes the lock exclusively, which makes a concurrent fetch of the same model on
 * the node wait instead of downloading too, and downloads into the entry (an entry left incomplete
 * by a crash is downloaded again), then writes the manifest. Then it places the files, and evicts
 * the least recently used entries that no fetch holds until the cache is under its size (never the
 * entry it just used).
 *
 * <p>The cache never fails a fetch that would have worked without it: when the directory is not
 * usable, or anything local goes wrong, it logs why and downloads straight into the target.
 * Failures of the source itself (access denied, not found, a broken transfer after the retries) are
 * reported as they are.
 */
public final class ModelCache {
  public static final long DEFAULT_MAX_BYTES = 500L << 30;
  static final String FILES = "files";
  static final String TRASH_PREFIX = ".trash-";

  /**
   * What a fetch did.
   *
   * @param hit the model was in the cache: nothing was downloaded
   * @param bytes size of the model
   * @param files number of files
   * @param elapsed from the start of {@link #fetch} to the files in place
   * @param via how the files got into the target: "link", "copy" or "direct" (without the cache)
   */
  public record Result(boolean hit, long bytes, int files, Duration elapsed, String via) {}

  private final Path root;
  private final long maxBytes;
  private final CacheLog log;

  /** Tries and first backoff of the listing; tests shorten them. */
  int listAttempts = 3;

  Duration listBackoff = Duration.ofSeconds(1);
  int copyThreads = 4;

  public ModelCache(Path dir, long maxBytes, CacheLog log) {
    this.root = dir.toAbsolutePath().normalize();
    this.maxBytes = maxBytes;
    this.log = log;
  }

  /** Fills {@code target} with the model of {@code origin}, through the cache. */
  public Result fetch(Origin origin, Path target) throws IOException {
    long start = System.nanoTime();
    try {
      prepare();
    } catch (IOException | RuntimeException e) {
      log.info("node cache: %s is not usable (%s); downloading without the cache", root, reason(e));
      return direct(origin, target, start);
    }
    // The source's own failures to list are reported as they are: without the cache it would fail
    // the same way.
    List<Origin.Listed> listing = origin.immutable() ? null : list(origin);
    String key = CacheKey.key(origin.identity(), listing);
    try {
      return cached(origin, key, listing, target, start);
    } catch (SourceFailure e) {
      throw e.failure;
    } catch (TooLarge e) {
      log.info(
          "node cache: %s (%s) is larger than the cache (%s); downloading without the cache",
          origin.displayUri(), Sizes.format(e.bytes), Sizes.format(maxBytes));
      return direct(origin, target, start);
    } catch (InterruptedIOException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      log.info("node cache: %s; downloading without the cache", reason(e));
      return direct(origin, target, start);
    }
  }

  private void prepare() throws IOException {
    if (maxBytes <= 0) {
      throw new IOException("its size limit is " + maxBytes + " bytes");
    }
    Files.createDirectories(root);
    if (!Files.isDirectory(root) || !Files.isWritable(root)) {
      throw new IOException(
          "not a writable directory: check the hostPath and the container's user");
    }
  }

  private Result cached(
      Origin origin, String key, List<Origin.Listed> listing, Path target, long start)
      throws IOException {
    Path entry = root.resolve(key);
    Path lock = root.resolve(key + ".lock");
    Runnable waiting =
        () ->
            log.info(
                "node cache: another fetch on this node holds %s; waiting for it",
                origin.displayUri());

    try (EntryLock shared = EntryLock.shared(lock, waiting)) {
      Manifest m = complete(entry, key);
      if (m != null) {
        return hit(origin, key, entry, m, target, start);
      }
    }
    try (EntryLock exclusive = EntryLock.exclusive(lock, waiting)) {
      Manifest m = complete(entry, key);
      if (m != null) { // filled by the fetch we waited for
        return hit(origin, key, entry, m, target, start);
      }
      if (Files.exists(entry.resolve(Manifest.NAME), LinkOption.NOFOLLOW_LINKS)) {
        log.info(
            "node cache: the cached copy of %s is damaged; discarding it", origin.displayUri());
        discard(entry);
      }
      List<Origin.Listed> files = listing != null ? listing : list(origin);
      long expected = files.stream().mapToLong(f -> Math.max(0, f.size())).sum();
      if (expected > maxBytes) {
        throw new TooLarge(expected);
      }
      evict(maxBytes - expected, key);
      Path filesDir = entry.resolve(FILES);
      Files.createDirectories(filesDir);
      log.info(
          "node cache: %s is not on this node yet; downloading it into the cache (entry %s)",
          origin.displayUri(), key.substring(0, 12));
      try {
        origin.download(filesDir);
      } catch (InterruptedIOException e) {
        throw e;
      } catch (IOException e) {
        if (isLocal(e)) {
          throw e;
        }
        throw new SourceFailure(e);
      }
      m = seal(entry, key, origin.displayUri(), files);
      Placement.Method method = new Placement(copyThreads, log).place(filesDir, m, target);
      Result result = new Result(false, m.bytes(), m.files().size(), since(start), via(method));
      log.info(
          "node cache: cached %s (%d files, %s) and %s it into %s",
          origin.displayUri(),
          m.files().size(),
          Sizes.format(m.bytes()),
          method == Placement.Method.LINK ? "linked" : "copied",
          target);
      evict(maxBytes, key);
      return result;
    }
  }

  private Result hit(Origin origin, String key, Path entry, Manifest m, Path target, long start)
      throws IOException {
    touch(entry);
    long placing = System.nanoTime();
    Placement.Method method =
        new Placement(copyThreads, log).place(entry.resolve(FILES), m, target);
    Result result = new Result(true, m.bytes(), m.files().size(), since(start), via(method));
    log.info(
        "node cache: hit for %s (%d files, %s): %s in %.3f s",
        origin.displayUri(),
        m.files().size(),
        Sizes.format(m.bytes()),
        method == Placement.Method.LINK ? "linked" : "copied",
        (System.nanoTime() - placing) / 1e9);
    evict(maxBytes, key);
    return result;
  }

  private Result direct(Origin origin, Path target, long start) throws IOException {
    Origin.Fetched f = origin.download(target);
    return new Result(false, f.bytes(), f.files(), since(start), "direct");
  }

  /**
   * The entry's manifest if the entry is complete and all its files are there with their sizes,
   * else null.
   */
  private Manifest complete(Path entry, String key) {
    Manifest m;
    try {
      m = Manifest.read(entry, key);
    } catch (IOException e) {
      return null;
    }
    if (m == null) {
      return null;
    }
    Path files = entry.resolve(FILES);
    for (Manifest.FileEntry f : m.files()) {
      try {
        BasicFileAttributes a =
            Files.readAttributes(
                SafePaths.resolve(files, f.path()),
                BasicFileAttributes.class,
                LinkOption.NOFOLLOW_LINKS);
        if (!a.isRegularFile() || a.size() != f.size()) {
          return null;
        }
      } catch (IOException e) {
        return null;
      }
    }
    return m;
  }

  /**
   * After a download: checks the entry against the listing, drops leftovers and writes the
   * manifest.
   */
  private static Manifest seal(Path entry, String key, String source, List<Origin.Listed> listing)
      throws IOException {
    Path files = entry.resolve(FILES);
    List<Manifest.FileEntry> entries = new ArrayList<>();
    Set<Path> listed = new HashSet<>();
    long total = 0;
    for (Origin.Listed f : listing) {
      Path p = SafePaths.resolve(files, f.path());
      BasicFileAttributes a;
      try {
        a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      } catch (NoSuchFileException e) {
        throw new IOException(
            "the download did not produce '" + SafePaths.printable(f.path()) + "'");
      }
      if (!a.isRegularFile() || (f.size() >= 0 && a.size() != f.size())) {
        throw new IOException(
            "'"
                + SafePaths.printable(f.path())
                + "' in the cache has "
                + a.size()
                + " bytes, the listing says "
                + f.size());
      }
      listed.add(p);
      entries.add(new Manifest.FileEntry(f.path(), a.size()));
      total += a.size();
    }
    if (entries.isEmpty()) {
      throw new IOException("the listing is empty");
    }
    List<Path> leftovers = new ArrayList<>();
    try (var walk = Files.walk(files)) {
      walk.filter(p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) && !listed.contains(p))
          .forEach(leftovers::add);
    }
    for (Path p : leftovers) {
      Files.deleteIfExists(p);
    }
    Manifest m = new Manifest(key, source, Instant.now(), total, List.copyOf(entries));
    m.write(entry);
    return m;
  }

  private void touch(Path entry) {
    try {
      Files.setLastModifiedTime(entry.resolve(Manifest.NAME), FileTime.from(Instant.now()));
    } catch (IOException e) {
      log.info("node cache: could not record the use of %s: %s", entry.getFileName(), reason(e));
    }
  }

  /** Holding the entry's lock exclusively: moves it out of the way and deletes it. */
  private void discard(Path entry) throws IOException {
    Path trash =
        root.resolve(
            TRASH_PREFIX
                + entry.getFileName()
                + "-"
                + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36));
    try {
      Files.move(entry, trash, StandardCopyOption.ATOMIC_MOVE);
    } catch (NoSuchFileException e) {
      return;
    }
    SafePaths.deleteTree(trash);
  }

  // ------------------------------------------------------------------ eviction

  /** An entry as eviction sees it. */
  record Stored(String key, long bytes, Instant lastUsed) {}

  /**
   * Deletes least recently used entries, skipping {@code keep} and every entry a fetch holds, until
   * the cache holds at most {@code budget} bytes or nothing more can go. Never throws: eviction is
   * housekeeping.
   */
  void evict(long budget, String keep) {
    try {
      List<Stored> entries = scan();
      long total = entries.stream().mapToLong(Stored::bytes).sum();
      if (total <= budget) {
        return;
      }
      entries.sort(Comparator.comparing(Stored::lastUsed));
      long before = total;
      int evicted = 0;
      for (Stored e : entries) {
        if (total <= budget) {
          break;
        }
        if (e.key().equals(keep)) {
          continue;
        }
        Path trash;
        try (EntryLock lock = EntryLock.tryExclusive(root.resolve(e.key() + ".lock"))) {
          if (lock == null) {
            continue; // in use
          }
          trash =
              root.resolve(
                  TRASH_PREFIX
                      + e.key()
                      + "-"
                      + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36));
          try {
            Files.move(root.resolve(e.key()), trash, StandardCopyOption.ATOMIC_MOVE);
          } catch (NoSuchFileException gone) {
            trash = null;
          }
        }
        if (trash != null) {
          SafePaths.deleteTree(trash);
          total -= e.bytes();
          evicted++;
          log.info(
              "node cache: evicted entry %s (%s, last used %s)",
              e.key().substring(0, 12), Sizes.format(e.bytes()), e.lastUsed());
        }
      }
      if (evicted > 0) {
        log.info(
            "node cache: evicted %d entr%s, %s -> %s (limit %s)",
            evicted,
            evicted == 1 ? "y" : "ies",
            Sizes.format(before),
            Sizes.format(total),
            Sizes.format(budget));
      }
      if (total > budget) {
        log.info(
            "node cache: holds %s, over its limit of %s, but the rest is in use",
            Sizes.format(total), Sizes.format(budget));
      }
    } catch (IOException | RuntimeException e) {
      log.info("node cache: eviction failed: %s", reason(e));
    }
  }

  /**
   * Every entry, complete or not, with its size and last use; also clears leftovers of earlier
   * deletions.
   */
  List<Stored> scan() throws IOException {
    List<Stored> entries = new ArrayList<>();
    try (DirectoryStream<Path> children = Files.newDirectoryStream(root)) {
      for (Path child : children) {
        String name = child.getFileName().toString();
        if (name.startsWith(TRASH_PREFIX)
            && CacheKey.isKey(
                name.substring(
                    TRASH_PREFIX.length(), Math.min(name.length(), TRASH_PREFIX.length() + 64)))) {
          try {
            SafePaths.deleteTree(child); // left by a fetch that died while deleting
          } catch (IOException ignored) {
            // another fetch is deleting it
          }
        } else if (CacheKey.isKey(name) && Files.isDirectory(child, LinkOption.NOFOLLOW_LINKS)) {
          entries.add(new Stored(name, SafePaths.size(child), lastUsed(child)));
        }
      }
    }
    return entries;
  }

  private static Instant lastUsed(Path entry) {
    for (Path p : List.of(entry.resolve(Manifest.NAME), entry)) {
      try {
        return Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).toInstant();
      } catch (IOException ignored) {
        // try the next
      }
    }
    return Instant.EPOCH;
  }

  // ------------------------------------------------------------------ helpers

  private List<Origin.Listed> list(Origin origin) throws IOException {
    for (int attempt = 1; ; attempt++) {
      try {
        List<Origin.Listed> files = origin.list();
        if (files.isEmpty()) {
          throw FetchException.fatal(origin.displayUri() + ": the listing is empty");
        }
        return files;
      } catch (IOException e) {
        boolean retryable = !(e instanceof FetchException f) || f.retryable();
        if (e instanceof InterruptedIOException || !retryable || attempt >= listAttempts) {
          throw e;
        }
        long wait = listBackoff.toMillis() << (attempt - 1);
        log.info(
            "node cache: listing %s failed (%s); retrying in %.1f s",
            origin.displayUri(), reason(e), wait / 1000.0);
        try {
          Thread.sleep(wait);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new InterruptedIOException("interrupted while listing " + origin.displayUri());
        }
      }
    }
  }

  /** Whether {@code e} is about the local disk (permissions, space) rather than the source. */
  static boolean isLocal(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof FileSystemException) {
        return true;
      }
      String m = t.getMessage() == null ? "" : t.getMessage().toLowerCase(Locale.ROOT);
      if (m.contains("no space left")
          || m.contains("disk quota")
          || m.contains("read-only file system")) {
        return true;
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return false;
  }

  private static String via(Placement.Method method) {
    return method == Placement.Method.LINK ? "link" : "copy";
  }

  private static Duration since(long start) {
    return Duration.ofNanos(System.nanoTime() - start);
  }

  private static String reason(Throwable e) {
    return Placement.reason(e);
  }

  /** A failure of the source during the download into the cache: reported as is, no second try. */
  private static final class SourceFailure extends IOException {
    private static final long serialVersionUID = 1L;
    final IOException failure;

    SourceFailure(IOException failure) {
      super(failure);
      this.failure = failure;
    }
  }

  /** The model would not fit into the cache at all. */
  private static final class TooLarge extends IOException {
    private static final long serialVersionUID = 1L;
    final long bytes;

    TooLarge(long bytes) {
      super("too large for the cache");
      this.bytes = bytes;
    }
  }
}
