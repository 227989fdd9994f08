package dev.warmstart.fetch.transfer;

import dev.warmstart.fetch.Failures;
import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.TargetPaths;
import dev.warmstart.fetch.source.ModelSource;
import dev.warmstart.fetch.source.RemoteFile;
import dev.warmstart.fetch.verify.Crc;
import dev.warmstart.fetch.verify.FileChecksum;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One file of known size fetched in parts, each a ranged request in a {@link TransferPool} slot,
 * written where it belongs in the preallocated temporary file (positional writes through a small
 * per-part buffer, so memory stays at slots × buffer whatever the part size). A part that fails is
 * retried alone. The coordinating thread waits for the parts in file order, and meanwhile records
 * finished parts for a resume and computes the checksum: a CRC from the CRCs the parts computed as
 * they arrived, a digest by reading the parts back in order (from the page cache, right behind the
 * download).
 *
 * <p>At the end of a download the parts still in flight would finish one by one, each on a
 * connection that the store caps far below the link, while the other slots sit idle. So once every
 * part is queued, a part in flight offers what it has left to the pool ({@link
 * TransferPool.Shareable}): a slot with nothing queued takes over the upper half of the largest
 * remainder as a {@link Piece} of its own request, and the part is done when all its pieces are. A
 * part that was split has its CRC read back like a digest.
 */
final class RangedDownload {
  /** Per part in flight: bytes between the socket and the file. */
  static final int BUFFER_SIZE = 256 * 1024;

  /** How often finished parts are made durable and recorded for a resume. */
  private static final Duration CHECKPOINT_INTERVAL = Duration.ofSeconds(2);

  /**
   * The smallest share of a part another slot takes over, as a fraction of the part size: a quarter
   * (2 MiB of the default 8 MiB parts) is still large against a request's first-byte latency.
   */
  private static final int SHARE_DIVISOR = 4;

  private final RemoteFile file;
  private final ModelSource.Ranged source;
  private final TempFile temp;
  private final FileChannel channel;
  private final PartPlan plan;
  private final ResumeState state;
  private final FileChecksum check;
  private final Progress progress;
  private final TransferPool pool;
  private final Retries retries;

  /**
   * CRCs of the parts fetched by this run (the others are read back), when the checksum is a CRC.
   */
  private final long[] partCrcs;

  private final boolean[] partCrcKnown;

  /** Per part: done when all its pieces are, failed when one of them failed for good. */
  private final List<CompletableFuture<Void>> parts;

  /** Per part: pieces not done yet (1, and one more each time the part is split). */
  private final AtomicInteger[] piecesLeft;

  /** Parts already being fetched by the caller (the first request's). */
  private final Set<Integer> elsewhere = ConcurrentHashMap.newKeySet();

  /**
   * Every missing part is queued or in flight: from now on, what they have left may be shared out.
   */
  private volatile boolean allQueued;

  /**
   * The temporary file is worth nothing (corrupt, or its disk is full): do not keep it for a
   * resume.
   */
  private volatile boolean worthless;

  private byte[] readBuffer;

  RangedDownload(
      RemoteFile file,
      ModelSource.Ranged source,
      TempFile temp,
      FileChannel channel,
      ResumeState state,
      FileChecksum check,
      Progress progress,
      TransferPool pool,
      Retries retries) {
    this.file = file;
    this.source = source;
    this.temp = temp;
    this.channel = channel;
    this.plan = state.plan();
    this.state = state;
    this.check = check;
    this.progress = progress;
    this.pool = pool;
    this.retries = retries;
    boolean crc = check != null && check.algorithm().isCrc();
    this.partCrcs = crc ? new long[plan.count()] : null;
    this.partCrcKnown = crc ? new boolean[plan.count()] : null;
    this.parts = new ArrayList<>(plan.count());
    this.piecesLeft = new AtomicInteger[plan.count()];
    for (int p = 0; p < plan.count(); p++) {
      parts.add(new CompletableFuture<>());
      piecesLeft[p] = new AtomicInteger(1);
    }
  }

  FileChannel channel() {
    return channel;
  }

  /** The index of the part that starts at {@code offset} and is still missing, or -1. */
  int missingPartAt(long offset) {
    if (offset % plan.partSize() != 0 || offset >= plan.size()) {
      return -1;
    }
    int p = (int) (offset / plan.partSize());
    return state.isDone(p) ? -1 : p;
  }

  /**
   * Marks part {@code p} as fetched by the caller, so that {@link #finish} waits for it instead of
   * queueing it.
   */
  void runningElsewhere(int p) {
    elsewhere.add(p);
  }

  /**
   * Fetches part {@code p} in the calling thread (a transfer slot). Never throws: the outcome
   * reaches {@link #finish} through the part's future (a failure also aborts the pool).
   */
  void fetchPart(int p) {
    fetchPiece(new Piece(p, plan.offset(p), plan.offset(p) + plan.length(p)));
  }

  /**
   * Fetches {@code piece}, retrying it alone; completes its part when it was the part's last piece.
   */
  private void fetchPiece(Piece piece) {
    int p = piece.part;
    String what =
        "downloading '" + TargetPaths.printable(file.path()) + "' (" + piece.describe() + ")";
    try {
      retries.call(
          what,
          () -> {
            attempt(piece);
            return null;
          });
    } catch (IOException | RuntimeException e) {
      if (!(e instanceof TransferPool.Aborted)) {
        pool.abort(e instanceof IOException io ? io : new IOException(Failures.describe(e), e));
      }
      parts.get(p).completeExceptionally(e);
      return;
    } catch (Error e) {
      pool.abort(new IOException("internal error: " + Failures.describe(e), e));
      parts.get(p).completeExceptionally(e);
      throw e;
    }
    if (piecesLeft[p].decrementAndGet() == 0) {
      state.markDone(p);
      parts.get(p).complete(null);
    }
  }

  private void attempt(Piece piece) throws IOException {
    pool.checkNotAborted();
    long offset = piece.start;
    long length = piece.restart();
    String what = "'" + TargetPaths.printable(file.path()) + "' (" + piece.describe() + ")";
    Crc.Running crc = partCrcs != null ? check.algorithm().crc.start() : null;
    long written = 0;
    TransferPool.Offer offer = null;
    try (ModelSource.Body body = source.open(offset, length);
        TransferPool.Watch watch = pool.watch(body)) {
      byte[] buffer = new byte[BUFFER_SIZE];
      InputStream in = body.stream();
      while (true) {
        long left = piece.end() - (offset + written);
        boolean shared = piece.end() < offset + length;
        if (shared && left <= 0) {
          break; // the rest is another piece's: the body is closed unread
        }
        int n;
        try {
          // One byte more than is left: a body longer than asked for shows itself.
          n =
              in.read(
                  buffer, 0, (int) Math.min(buffer.length, shared ? left : length - written + 1));
        } catch (IOException e) {
          pool.checkNotAborted();
          if (e instanceof FetchException) {
            throw e;
          }
          throw new IOException(
              what
                  + ": the transfer broke after "
                  + written
                  + " of "
                  + length
                  + " bytes: "
                  + (watch.stalled()
                      ? "no data received for " + StreamDownload.seconds(pool.stallTimeout())
                      : Failures.describe(e)),
              e);
        }
        if (n < 0) {
          break;
        }
        watch.dataArrived();
        if (written + n > length) {
          worthless = true;
          throw FetchException.fatal(
              what + ": the server sent more than the " + length + " bytes asked for");
        }
        // Claimed before it is written: a split never hands these bytes to another piece.
        int keep = piece.advance(n);
        write(buffer, keep, offset + written);
        if (crc != null) {
          crc.update(buffer, 0, keep);
        }
        written += keep;
        progress.add(keep);
        if (offer == null) {
          offer =
              pool.offer(
                  piece); // once data flows: a share of a transfer not yet started gains nothing
        }
      }
      pool.checkNotAborted();
      if (watch.stalled()) {
        throw new IOException(
            what
                + ": no data received for "
                + StreamDownload.seconds(pool.stallTimeout())
                + "; aborted the transfer");
      }
      long expected = piece.end() - offset;
      if (written != expected) {
        throw new IOException(
            what + ": got " + written + " of " + expected + " bytes; the connection ended early");
      }
    } catch (IOException | RuntimeException e) {
      progress.discard(written);
      throw e;
    } finally {
      if (offer != null) {
        offer.close();
      }
    }
    if (crc != null && piece.isWholePart()) {
      partCrcs[piece.part] = crc.value();
      partCrcKnown[piece.part] = true;
    }
  }

  /**
   * A byte range of one part, fetched by one request: the whole part, or a share of it that another
   * slot took over. Its end moves down when what it has left is split; what the reader has claimed
   * never moves.
   */
  private final class Piece implements TransferPool.Shareable {
    final int part;
    final long start;

    /** Exclusive; lowered by {@link #split}. */
    private long end;

    /** How far the current attempt has claimed bytes for writing. */
    private long claimed;

    Piece(int part, long start, long end) {
      this.part = part;
      this.start = start;
      this.end = end;
      this.claimed = start;
    }

    /** Starts an attempt from the piece's start; returns the bytes to ask for. */
    synchronized long restart() {
      claimed = start;
      return end - start;
    }

    synchronized long end() {
      return end;
    }

    /** Claims up to {@code n} of the bytes just read; returns how many are still this piece's. */
    synchronized int advance(int n) {
      int keep = (int) Math.min(n, end - claimed);
      claimed += keep;
      return keep;
    }

    synchronized boolean isWholePart() {
      return start == plan.offset(part) && end == plan.offset(part) + plan.length(part);
    }

    @Override
    public synchronized long remaining() {
      return end - claimed;
    }

    @Override
    public Runnable split() {
      if (!allQueued) {
        return null;
      }
      long share = Math.max(1, plan.partSize() / SHARE_DIVISOR);
      Piece upper;
      synchronized (this) {
        long left = end - claimed;
        if (left < 2 * share) {
          return null;
        }
        long mid = claimed + left / 2;
        upper = new Piece(part, mid, end);
        end = mid;
        // Under the lock: this piece cannot finish (and count itself off) before the new one
        // counts.
        piecesLeft[part].incrementAndGet();
      }
      return () -> fetchPiece(upper);
    }

    String describe() {
      return plan.describe(part, start, end());
    }
  }

  private void write(byte[] buffer, int n, long position) throws FetchException {
    ByteBuffer b = ByteBuffer.wrap(buffer, 0, n);
    try {
      for (long at = position; b.hasRemaining(); ) {
        at += channel.write(b, at);
      }
    } catch (IOException e) {
      worthless = true;
      throw TempFile.failure(file.path(), temp.path(), e);
    }
  }

  /**
   * Queues the parts still missing, then waits for them in order while checkpointing and hashing,
   * and verifies the checksum. Returns with the file complete and checked.
   */
  void finish() throws IOException {
    for (int p = 0; p < plan.count(); p++) {
      int part = p;
      if (state.isDone(p)) {
        parts.get(p).complete(null);
      } else if (!elsewhere.contains(p)) {
        // A task the pool refuses (the run was aborted) fails its part here.
        pool.submit(
                () -> {
                  fetchPart(part);
                  return null;
                })
            .whenComplete(
                (v, e) -> {
                  if (e != null) {
                    parts.get(part).completeExceptionally(e);
                  }
                });
      }
    }
    allQueued = true;
    pool.shareWhenIdle(); // a slot that ran out of work before now looks again
    boolean crc = partCrcs != null;
    FileChecksum.Hasher digest = check != null && !crc ? check.algorithm().start() : null;
    Crc.Shifter wholePart = crc ? check.algorithm().crc.shifter(plan.partSize()) : null;
    long combined = 0; // the CRC of no bytes, for all three CRCs
    long nextCheckpoint = System.nanoTime() + CHECKPOINT_INTERVAL.toNanos();
    for (int p = 0; p < plan.count(); p++) {
      nextCheckpoint = await(parts.get(p), nextCheckpoint);
      if (digest != null) {
        readBack(p, digest::update);
      }
      if (crc) {
        long partCrc = partCrcKnown[p] ? partCrcs[p] : readBackCrc(p);
        Crc.Shifter shift =
            plan.length(p) == plan.partSize()
                ? wholePart
                : check.algorithm().crc.shifter(plan.length(p));
        combined = shift.shift(combined) ^ partCrc;
      }
    }
    byte[] actual =
        digest != null ? digest.result() : crc ? check.algorithm().crc.bytes(combined) : null;
    if (actual != null && !check.matches(actual)) {
      worthless = true;
      FetchException e = check.mismatch(file.path(), actual);
      pool.abort(e);
      throw e;
    }
  }

  /**
   * Waits for {@code part}, recording finished parts every {@link #CHECKPOINT_INTERVAL} meanwhile.
   */
  private long await(CompletableFuture<Void> part, long nextCheckpoint) throws IOException {
    long next = nextCheckpoint;
    while (true) {
      long wait = next - System.nanoTime();
      if (wait <= 0) {
        checkpoint();
        next = System.nanoTime() + CHECKPOINT_INTERVAL.toNanos();
        continue;
      }
      try {
        part.get(wait, TimeUnit.NANOSECONDS);
        return next;
      } catch (TimeoutException e) {
        // checkpoint, then wait on
      } catch (ExecutionException e) {
        throw Failures.unwrap(e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted");
      }
    }
  }

  /** Makes the finished parts durable and records them, so that a new process skips them. */
  void checkpoint() throws FetchException {
    try {
      state.checkpoint(channel);
    } catch (IOException e) {
      worthless = true;
      throw TempFile.failure(file.path(), temp.path(), e);
    }
  }

  /**
   * After a failure: keeps the temporary file and its state for a resume when they are worth it
   * (the parts written are sound and the source can tell whether the file changed), else removes
   * them.
   */
  void abandon() {
    boolean keep = !worthless && state.resumable() && state.doneCount() > 0;
    if (keep) {
      try {
        state.checkpoint(channel);
      } catch (IOException e) {
        keep = false;
      }
    }
    try {
      channel.close();
    } catch (IOException ignored) {
      // closing is all that is left to do
    }
    if (!keep) {
      temp.delete();
    }
  }

  @FunctionalInterface
  private interface Sink {
    void accept(byte[] b, int off, int len);
  }

  /**
   * Feeds part {@code p} from the temporary file to {@code sink} (on the coordinating thread only).
   */
  private void readBack(int p, Sink sink) throws FetchException {
    if (readBuffer == null) {
      readBuffer = new byte[BUFFER_SIZE];
    }
    byte[] buffer = readBuffer;
    ByteBuffer b = ByteBuffer.wrap(buffer);
    long end = plan.offset(p) + plan.length(p);
    try {
      for (long at = plan.offset(p); at < end; ) {
        b.clear().limit((int) Math.min(buffer.length, end - at));
        int n = channel.read(b, at);
        if (n < 0) {
          throw new IOException("the file ends at " + at + " bytes, before " + end);
        }
        sink.accept(buffer, 0, n);
        at += n;
      }
    } catch (IOException e) {
      worthless = true;
      throw TempFile.failure(file.path(), temp.path(), e);
    }
  }

  private long readBackCrc(int p) throws FetchException {
    Crc.Running running = check.algorithm().crc.start();
    readBack(p, running::update);
    return running.value();
  }
}
