package dev.warmstart.fetch.source;

import dev.warmstart.fetch.verify.FileChecksum;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;

/**
 * Where model weights come from: one implementation per URI scheme ({@link S3Source}, {@link
 * HttpSource}, {@link HubSource}). A source lists the files with what it knows of their sizes and
 * checksums, and serves each file in byte ranges ({@link #access}) or as one stream ({@link
 * #open}); the {@link Downloader} does the scheduling, writing, checking and retrying.
 *
 * <p>Errors are {@link FetchException}s whose messages say what to fix; other {@link IOException}s
 * are treated as transient network failures.
 */
public interface ModelSource extends Closeable {

  /**
   * The URI for logs and the termination message: never credentials, signatures or query strings.
   */
  String displayUri();

  /** All files of the model; never empty (an empty listing is a {@link FetchException}). */
  List<RemoteFile> list() throws IOException;

  /** Opens {@code file} for reading from its first byte. The caller closes the body. */
  Body open(RemoteFile file) throws IOException;

  /**
   * Looks at {@code file} for a ranged download: its size, version and checksums, and whether the
   * server serves byte ranges at all. A source whose way of looking is a ranged GET asks for {@code
   * [offset, offset + length)} (length 0: just look) and hands that response out from the first
   * matching {@link Ranged#open}, so the look costs no extra request. The caller closes what it
   * gets.
   *
   * <p>The default serves the file as one stream.
   */
  default Access access(RemoteFile file, long offset, long length) throws IOException {
    return new Whole(open(file));
  }

  @Override
  default void close() throws IOException {}

  /** How a source serves one file. */
  sealed interface Access extends Closeable permits Ranged, Whole {}

  /** Only as one stream from the first byte, already open (a server that ignores Range). */
  record Whole(Body body) implements Access {
    @Override
    public void close() throws IOException {
      body.close();
    }
  }

  /** In byte ranges, each its own request. */
  non-sealed interface Ranged extends Access {
    /** The file's size now. */
    long size();

    /**
     * What identifies this content at the source (an ETag, a Last-Modified date), or null if
     * nothing does: a partial download is resumed only while it is unchanged.
     */
    String version();

    /** Whole-file checksums the source states; may be empty. */
    List<FileChecksum> checksums();

    /**
     * Opens {@code [offset, offset + length)}. The body has exactly these bytes, or reading it
     * fails; a source that finds the file changed since {@link #access} throws a fatal {@link
     * FetchException}.
     */
    Body open(long offset, long length) throws IOException;

    /** Releases what {@link #access} kept open for a range nobody asked for. */
    @Override
    default void close() throws IOException {}
  }

  /**
   * An open download.
   *
   * @param stream the bytes; closing it (also from another thread) aborts the transfer
   * @param length the length the server announced, or -1
   */
  record Body(InputStream stream, long length) implements Closeable {
    @Override
    public void close() throws IOException {
      stream.close();
    }
  }
}
