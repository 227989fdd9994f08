package dev.warmstart.fetch.cache;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Puts a cached model's files into the pod's model directory. Hard links where the kernel allows
 * them (the cache and the target on the same mount): instant, no extra space, and an eviction that
 * unlinks the cache's name leaves the pod's name and data alone. Otherwise copies, each file in
 * parts on several threads, to a hidden temporary name, checked against the manifest's size and
 * renamed into place, so a final name only ever holds a complete file.
 *
 * <p>In a pod, the cache (a hostPath) and the model volume (an emptyDir) are two mounts, and Linux
 * refuses links across mounts even on one filesystem (EXDEV): there the files are copied. Copies
 * are not fsynced: the model volume lives as long as the pod, and a node that crashes restarts the
 * pod's init containers, which place every file again.
 */
final class Placement {
  enum Method {
    LINK,
    COPY
  }

  private static final String TEMP_SUFFIX = ".cache-partial";

  /** Unit of parallel copying; several per large file, so that one big shard uses every thread. */
  static final long PART = 64L << 20;

  private static final ThreadLocal<ByteBuffer> BUFFERS =
      ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(4 << 20));

  private final int copyThreads;
  private final CacheLog log;

  Placement(int copyThreads, CacheLog log) {
    this.copyThreads = Math.max(1, copyThreads);
    this.log = log;
  }

  /**
   * Places every file of {@code manifest} from {@code source} (the entry's files) under {@code
   * target}.
   */
  Method place(Path source, Manifest manifest, Path target) throws IOException {
    Files.createDirectories(target);
    List<Manifest.FileEntry> files = manifest.files();
    Manifest.FileEntry first = files.get(0);
    try {
      link(source, first, target);
    } catch (IOException | UnsupportedOperationException e) {
      log.info(
          "node cache: hard links from the cache into %s are not possible (%s): copying",
          target, reason(e));
      copyAll(source, files, target);
      return Method.COPY;
    }
    for (Manifest.FileEntry f : files.subList(1, files.size())) {
      link(source, f, target);
    }
    return Method.LINK;
  }

  private static void link(Path source, Manifest.FileEntry f, Path target) throws IOException {
    Path from = SafePaths.resolve(source, f.path());
    Path to = SafePaths.resolve(target, f.path());
    Files.createDirectories(to.getParent());
    Path temp = to.resolveSibling("." + to.getFileName() + TEMP_SUFFIX);
    Files.deleteIfExists(temp);
    Files.createLink(temp, from);
    try {
      Files.move(temp, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      Files.deleteIfExists(temp);
      throw e;
    }
  }

  private void copyAll(Path source, List<Manifest.FileEntry> files, Path target)
      throws IOException {
    ExecutorService pool =
        Executors.newFixedThreadPool(
            copyThreads,
            r -> {
              Thread t = new Thread(r, "fetch-model-cache-copy");
              t.setDaemon(true);
              return t;
            });
    try {
      for (Manifest.FileEntry f : files) {
        copy(source, f, target, pool);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** Copies one file in parts of {@link #PART} bytes, on the pool, through a temporary name. */
  private void copy(Path source, Manifest.FileEntry f, Path target, ExecutorService pool)
      throws IOException {
    Path from = SafePaths.resolve(source, f.path());
    Path to = SafePaths.resolve(target, f.path());
    Files.createDirectories(to.getParent());
    Path temp = to.resolveSibling("." + to.getFileName() + TEMP_SUFFIX);
    boolean done = false;
    try {
      try (FileChannel in = FileChannel.open(from, StandardOpenOption.READ);
          FileChannel out =
              FileChannel.open(
                  temp,
                  StandardOpenOption.CREATE,
                  StandardOpenOption.TRUNCATE_EXISTING,
                  StandardOpenOption.WRITE)) {
        long size = in.size();
        if (size != f.size()) {
          throw new IOException(
              "cached '"
                  + SafePaths.printable(f.path())
                  + "' has "
                  + size
                  + " bytes, the manifest says "
                  + f.size());
        }
        List<Future<?>> parts = new ArrayList<>();
        for (long offset = 0; offset < size; offset += PART) {
          long start = offset;
          long end = Math.min(size, offset + PART);
          parts.add(
              pool.submit(
                  () -> {
                    copyRange(in, out, start, end, f);
                    return null;
                  }));
        }
        await(parts);
        if (out.size() != size) {
          throw new IOException(
              "copy of '"
                  + SafePaths.printable(f.path())
                  + "' has "
                  + out.size()
                  + " of "
                  + size
                  + " bytes");
        }
      }
      Files.move(temp, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      done = true;
    } finally {
      if (!done) {
        Files.deleteIfExists(temp);
      }
    }
  }

  /**
   * Copies {@code [start, end)} with positional reads and writes through a direct buffer. Measured
   * against {@link FileChannel#transferTo} (sendfile on JDK 17), this was as fast and steadier:
   * sendfile's first gigabyte in a fresh process sometimes took several times as long.
   */
  private static void copyRange(
      FileChannel in, FileChannel out, long start, long end, Manifest.FileEntry f)
      throws IOException {
    ByteBuffer buffer = BUFFERS.get();
    long position = start;
    while (position < end) {
      buffer.clear();
      buffer.limit((int) Math.min(buffer.capacity(), end - position));
      int n = in.read(buffer, position);
      if (n <= 0) {
        throw new IOException(
            "copy of '"
                + SafePaths.printable(f.path())
                + "' stopped at "
                + position
                + " bytes: the cached file got shorter");
      }
      buffer.flip();
      long at = position;
      while (buffer.hasRemaining()) {
        at += out.write(buffer, at);
      }
      position += n;
    }
  }

  private static void await(List<Future<?>> futures) throws IOException {
    for (Future<?> future : futures) {
      try {
        future.get();
      } catch (ExecutionException e) {
        futures.forEach(other -> other.cancel(true));
        Throwable cause = e.getCause();
        if (cause instanceof IOException io) {
          throw io;
        }
        if (cause instanceof RuntimeException re) {
          throw re;
        }
        throw new IOException(cause);
      } catch (InterruptedException e) {
        futures.forEach(other -> other.cancel(true));
        Thread.currentThread().interrupt();
        throw new java.io.InterruptedIOException("interrupted while copying from the cache");
      }
    }
  }

  static String reason(Throwable e) {
    String m = e.getMessage();
    return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
  }
}
