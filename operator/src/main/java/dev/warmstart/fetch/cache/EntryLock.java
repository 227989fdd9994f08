package dev.warmstart.fetch.cache;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The lock of one cache entry, {@code DIR/<key>.lock}: shared while a fetch reads the entry,
 * exclusive while one fills or deletes it. Between processes (the fetch-model containers of the
 * pods on a node) it is a {@link FileChannel#lock} on the file, which the kernel drops when a
 * process dies, so a crashed fetch never leaves the entry locked. Within one JVM, where file locks
 * cannot be taken twice, a read-write lock per file comes first and the shared holders share one
 * file lock.
 *
 * <p>Lock files are empty and never deleted, also not when their entry is evicted: a fetch may have
 * opened the file and be about to lock it, and if the file were unlinked meanwhile, that fetch
 * would hold a lock on a file nobody else sees while the next one creates a new file. One empty
 * file per model that was ever cached on the node is the price.
 */
final class EntryLock implements AutoCloseable {
  private static final ConcurrentHashMap<Path, InJvm> LOCKS = new ConcurrentHashMap<>();

  /** Per lock file, in this JVM. */
  private static final class InJvm {
    final ReentrantReadWriteLock rw = new ReentrantReadWriteLock(true);

    /** Guarded by this: the file lock the shared holders share, and their number. */
    FileChannel sharedChannel;

    int sharedHolders;
  }

  private final InJvm jvm;
  private final boolean shared;

  /**
   * The exclusive holder's channel; null for shared holders (the channel is {@link
   * InJvm#sharedChannel}).
   */
  private FileChannel channel;

  private boolean closed;

  private EntryLock(InJvm jvm, boolean shared, FileChannel channel) {
    this.jvm = jvm;
    this.shared = shared;
    this.channel = channel;
  }

  /** Waits for a shared lock; {@code onWait} runs once before waiting, if it has to. */
  static EntryLock shared(Path file, Runnable onWait) throws IOException {
    Path f = file.toAbsolutePath().normalize();
    InJvm jvm = LOCKS.computeIfAbsent(f, k -> new InJvm());
    Waiting waiting = new Waiting(onWait);
    acquire(jvm.rw.readLock(), waiting);
    try {
      synchronized (jvm) {
        if (jvm.sharedHolders == 0) {
          jvm.sharedChannel = lockFile(f, true, waiting);
        }
        jvm.sharedHolders++;
      }
    } catch (IOException | RuntimeException e) {
      jvm.rw.readLock().unlock();
      throw e;
    }
    return new EntryLock(jvm, true, null);
  }

  /** Waits for the exclusive lock; {@code onWait} runs once before waiting, if it has to. */
  static EntryLock exclusive(Path file, Runnable onWait) throws IOException {
    Path f = file.toAbsolutePath().normalize();
    InJvm jvm = LOCKS.computeIfAbsent(f, k -> new InJvm());
    Waiting waiting = new Waiting(onWait);
    acquire(jvm.rw.writeLock(), waiting);
    try {
      return new EntryLock(jvm, false, lockFile(f, false, waiting));
    } catch (IOException | RuntimeException e) {
      jvm.rw.writeLock().unlock();
      throw e;
    }
  }

  /** The exclusive lock if nobody holds the entry, else null; never waits. */
  static EntryLock tryExclusive(Path file) throws IOException {
    Path f = file.toAbsolutePath().normalize();
    InJvm jvm = LOCKS.computeIfAbsent(f, k -> new InJvm());
    if (jvm.rw.isWriteLockedByCurrentThread() || !jvm.rw.writeLock().tryLock()) {
      return null; // held, here or elsewhere
    }
    try {
      FileChannel ch = lockFile(f, false, null);
      if (ch == null) {
        jvm.rw.writeLock().unlock();
        return null;
      }
      return new EntryLock(jvm, false, ch);
    } catch (IOException | RuntimeException e) {
      jvm.rw.writeLock().unlock();
      throw e;
    }
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (shared) {
      synchronized (jvm) {
        if (--jvm.sharedHolders == 0) {
          closeQuietly(jvm.sharedChannel);
          jvm.sharedChannel = null;
        }
      }
      jvm.rw.readLock().unlock();
    } else {
      closeQuietly(channel); // closing the channel releases the file lock
      channel = null;
      jvm.rw.writeLock().unlock();
    }
  }

  /**
   * Opens and locks {@code file} (creating it). With {@code waiting} null, does not wait and
   * returns null if the file is locked.
   */
  private static FileChannel lockFile(Path file, boolean shared, Waiting waiting)
      throws IOException {
    FileChannel ch =
        FileChannel.open(
            file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
    try {
      FileLock lock = ch.tryLock(0, Long.MAX_VALUE, shared);
      if (lock == null) {
        if (waiting == null) {
          ch.close();
          return null;
        }
        waiting.announce();
        ch.lock(0, Long.MAX_VALUE, shared);
      }
      return ch;
    } catch (IOException | RuntimeException e) {
      closeQuietly(ch);
      throw e;
    }
  }

  private static void acquire(Lock lock, Waiting waiting) throws IOException {
    if (lock.tryLock()) {
      return;
    }
    waiting.announce();
    try {
      lock.lockInterruptibly();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted while waiting for the cache entry");
    }
  }

  private static void closeQuietly(FileChannel ch) {
    if (ch != null) {
      try {
        ch.close();
      } catch (IOException ignored) {
        // closing releases the lock either way
      }
    }
  }

  /** Runs its action at most once. */
  private static final class Waiting {
    private final Runnable action;
    private boolean done;

    Waiting(Runnable action) {
      this.action = action;
    }

    void announce() {
      if (!done && action != null) {
        done = true;
        action.run();
      }
    }
  }
}
