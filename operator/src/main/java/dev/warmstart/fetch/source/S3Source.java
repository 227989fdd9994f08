package dev.warmstart.fetch.source;

import dev.warmstart.fetch.Failures;
import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.Log;
import dev.warmstart.fetch.TargetPaths;
import dev.warmstart.fetch.verify.FileChecksum;
import java.io.FilterInputStream;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import software.amazon.awssdk.auth.credentials.AnonymousCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.model.ChecksumMode;
import software.amazon.awssdk.services.s3.model.ChecksumType;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.services.s3.model.ServerSideEncryption;

/**
 * {@code s3://bucket/prefix/}: every object under the prefix, at its path relative to the prefix
 * ("directory marker" keys ending in '/' skipped); {@code s3://bucket/key} without a trailing
 * slash: that one object if it exists, else the objects under {@code key/}.
 *
 * <p>Region, endpoint and credentials come from the AWS SDK's default chains (environment, profile,
 * IRSA web identity, EKS Pod Identity / container credentials, instance profile). When the chain
 * finds no credentials the bucket is read anonymously. {@code --s3-endpoint} and {@code
 * --s3-path-style} serve S3-compatible stores.
 */
public final class S3Source implements ModelSource {
  private final S3Client s3;
  private final String bucket;
  private final String key;
  private final boolean anonymous;
  private final String endpointDescription;

  /** Whether to ask HEAD for checksums; cleared once the store refuses the header. */
  private volatile boolean checksumMode = true;

  private static final Pattern SINGLE_PART_ETAG = Pattern.compile("[0-9a-fA-F]{32}");

  public S3Source(String uri, String endpoint, boolean pathStyle, Log log) throws FetchException {
    String rest = uri.substring("s3://".length());
    int slash = rest.indexOf('/');
    this.bucket = slash < 0 ? rest : rest.substring(0, slash);
    this.key = slash < 0 ? "" : rest.substring(slash + 1);
    if (bucket.isEmpty()) {
      throw FetchException.fatal(
          "'" + TargetPaths.printable(uri) + "' names no bucket: write s3://bucket/prefix/");
    }
    S3ClientBuilder builder =
        S3Client.builder()
            .httpClientBuilder(
                UrlConnectionHttpClient.builder()
                    .connectionTimeout(Duration.ofSeconds(10))
                    .socketTimeout(Duration.ofSeconds(60)))
            .forcePathStyle(pathStyle);
    if (endpoint != null && !endpoint.isBlank()) {
      URI e;
      try {
        e = new URI(endpoint.strip());
      } catch (Exception ex) {
        e = null;
      }
      if (e == null || e.getHost() == null || !e.getScheme().matches("(?i)https?")) {
        throw FetchException.fatal(
            "the S3 endpoint '"
                + TargetPaths.printable(endpoint)
                + "' is not an http(s) URL: check --s3-endpoint, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL");
      }
      builder.endpointOverride(e);
      // Many S3-compatible stores reject the SDK's newer checksum headers with 501 NotImplemented:
      // send them only where an operation requires them.
      builder.requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED);
      endpointDescription = Http.redact(e);
    } else {
      // A bucket in another region than the pod's: follow S3's redirect instead of failing.
      builder.crossRegionAccessEnabled(true);
      endpointDescription = null;
    }
    // The Downloader checks each whole file against the checksums from HEAD; the SDK's own check is
    // off
    // because a ranged GET that happens to align with a multipart upload's part carries that part's
    // checksum, which the SDK would compare with the range (aws-sdk-java-v2#5421).
    builder.responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED);
    builder.region(region(log));
    AwsCredentialsProvider credentials = credentials(log);
    this.anonymous = credentials instanceof AnonymousCredentialsProvider;
    builder.credentialsProvider(credentials);
    this.s3 = builder.build();
  }

  private static Region region(Log log) {
    try {
      return new DefaultAwsRegionProviderChain().getRegion();
    } catch (SdkClientException e) {
      log.info("no AWS region configured; using us-east-1 (set AWS_REGION to change it)");
      return Region.US_EAST_1;
    }
  }

  /** The default chain if it finds credentials, else anonymous access (public buckets). */
  private static AwsCredentialsProvider credentials(Log log) {
    DefaultCredentialsProvider chain = DefaultCredentialsProvider.builder().build();
    try {
      chain.resolveCredentials();
      return chain;
    } catch (SdkClientException e) {
      chain.close();
      log.info(
          "no AWS credentials found (environment, profile, web identity, container or instance role);"
              + " reading the bucket anonymously");
      return AnonymousCredentialsProvider.create();
    }
  }

  @Override
  public String displayUri() {
    return "s3://" + bucket + "/" + key;
  }

  @Override
  public List<RemoteFile> list() throws IOException {
    String prefix = key;
    boolean headDenied = false;
    if (!key.isEmpty() && !key.endsWith("/")) {
      try {
        HeadObjectResponse head = s3.headObject(r -> r.bucket(bucket).key(key));
        String name = key.substring(key.lastIndexOf('/') + 1);
        return List.of(new RemoteFile(name, sizeOrUnknown(head.contentLength()), null, key));
      } catch (S3Exception e) {
        if (e.statusCode() == 403) {
          headDenied =
              true; // no such key without s3:ListBucket, or no s3:GetObject: the listing tells
        } else if (e.statusCode() != 404) {
          throw translate(e, displayUri());
        }
      } catch (SdkClientException e) {
        throw unreachable(e);
      }
      prefix = key + "/";
    }
    String listed = "s3://" + bucket + "/" + prefix;
    List<RemoteFile> files = new ArrayList<>();
    try {
      final String p = prefix;
      for (S3Object o : s3.listObjectsV2Paginator(r -> r.bucket(bucket).prefix(p)).contents()) {
        if (o.key().endsWith("/")) {
          continue; // a "directory marker" from a console or a sync tool
        }
        files.add(
            new RemoteFile(o.key().substring(p.length()), sizeOrUnknown(o.size()), null, o.key()));
      }
    } catch (S3Exception e) {
      throw translate(e, listed);
    } catch (SdkClientException e) {
      throw unreachable(e);
    }
    if (files.isEmpty()) {
      if (headDenied) {
        throw accessDenied(displayUri(), "AccessDenied");
      }
      throw FetchException.fatal(
          "no objects under "
              + listed
              + ": check the bucket and prefix"
              + " (keys are case-sensitive)"
              + (endpointDescription == null ? "" : " and the endpoint " + endpointDescription));
    }
    return files;
  }

  @Override
  public Body open(RemoteFile file) throws IOException {
    ResponseInputStream<GetObjectResponse> in;
    try {
      in = s3.getObject(r -> r.bucket(bucket).key(file.ref()));
    } catch (S3Exception e) {
      throw translate(e, "s3://" + bucket + "/" + file.ref());
    } catch (SdkClientException e) {
      throw unreachable(e);
    }
    return new Body(new SdkStream(in), sizeOrUnknown(in.response().contentLength()));
  }

  @Override
  public Access access(RemoteFile file, long offset, long length) throws IOException {
    String key = file.ref();
    String what = "s3://" + bucket + "/" + key;
    HeadObjectResponse head;
    try {
      head = head(key);
    } catch (S3Exception e) {
      throw translate(e, what);
    } catch (SdkClientException e) {
      throw unreachable(e);
    }
    if (head.contentLength() == null) {
      return new Whole(
          open(file)); // a store that does not say: one stream, checked against the listing
    }
    return new RangedObject(key, head.contentLength(), head.eTag(), checksums(head));
  }

  /**
   * HEAD with {@code x-amz-checksum-mode: ENABLED}, which makes S3 state the object's checksums;
   * once a store refuses that header (some S3-compatible ones answer 400 or 501), without it.
   */
  private HeadObjectResponse head(String key) {
    if (checksumMode) {
      try {
        return s3.headObject(r -> r.bucket(bucket).key(key).checksumMode(ChecksumMode.ENABLED));
      } catch (S3Exception e) {
        if (e.statusCode() != 400 && e.statusCode() != 501) {
          throw e;
        }
        checksumMode = false;
      }
    }
    return s3.headObject(r -> r.bucket(bucket).key(key));
  }

  /**
   * The whole-object checksums in a HEAD response: S3's own (only full-object ones: a multipart
   * upload's composite checksum is over its parts' checksums) and the ETag where it is the object's
   * MD5, which is when it was uploaded in one part without KMS or customer-key encryption.
   */
  private List<FileChecksum> checksums(HeadObjectResponse head) {
    List<FileChecksum> checks = new ArrayList<>();
    boolean composite = head.checksumType() == ChecksumType.COMPOSITE;
    if (!composite) {
      addBase64(checks, FileChecksum.Algorithm.CRC64NVME, head.checksumCRC64NVME());
      addBase64(checks, FileChecksum.Algorithm.CRC32C, head.checksumCRC32C());
      addBase64(checks, FileChecksum.Algorithm.CRC32, head.checksumCRC32());
      addBase64(checks, FileChecksum.Algorithm.SHA256, head.checksumSHA256());
      addBase64(checks, FileChecksum.Algorithm.SHA512, head.checksumSHA512());
      addBase64(checks, FileChecksum.Algorithm.SHA1, head.checksumSHA1());
      addBase64(checks, FileChecksum.Algorithm.MD5, head.checksumMD5());
    }
    String etag = head.eTag() == null ? "" : head.eTag().replace("\"", "").strip();
    ServerSideEncryption sse = head.serverSideEncryption();
    // An S3-compatible store that encrypts (MinIO, for one) need not keep the MD5 in the ETag,
    // AES256 or not.
    boolean plainEtag =
        sse == null || (sse == ServerSideEncryption.AES256 && endpointDescription == null);
    if (SINGLE_PART_ETAG.matcher(etag).matches()
        && plainEtag
        && head.sseCustomerAlgorithm() == null) {
      checks.add(FileChecksum.hex(FileChecksum.Algorithm.MD5, etag, "the S3 ETag"));
    }
    return checks;
  }

  private static void addBase64(
      List<FileChecksum> checks, FileChecksum.Algorithm algorithm, String value) {
    if (value != null && !value.isBlank()) {
      FileChecksum c = FileChecksum.base64(algorithm, value.strip(), "S3");
      if (c != null) {
        checks.add(c);
      }
    }
  }

  /** One object read in ranges, each GET conditional on the ETag seen by the HEAD. */
  private final class RangedObject implements Ranged {
    private final String key;
    private final long size;
    private final String etag;
    private final List<FileChecksum> checksums;

    RangedObject(String key, long size, String etag, List<FileChecksum> checksums) {
      this.key = key;
      this.size = size;
      this.etag = etag;
      this.checksums = List.copyOf(checksums);
    }

    @Override
    public long size() {
      return size;
    }

    @Override
    public String version() {
      return etag;
    }

    @Override
    public List<FileChecksum> checksums() {
      return checksums;
    }

    @Override
    public Body open(long offset, long length) throws IOException {
      String what = "s3://" + bucket + "/" + key;
      ResponseInputStream<GetObjectResponse> in;
      try {
        in =
            s3.getObject(
                r -> {
                  r.bucket(bucket).key(key).range("bytes=" + offset + "-" + (offset + length - 1));
                  if (etag != null) {
                    r.ifMatch(etag);
                  }
                });
      } catch (S3Exception e) {
        if (e.statusCode() == 412) {
          throw FetchException.fatal(
              what
                  + " changed during the download (its ETag is no longer "
                  + etag
                  + "); run again to fetch the new version");
        }
        throw translate(e, what);
      } catch (SdkClientException e) {
        throw unreachable(e);
      }
      Long announced = in.response().contentLength();
      if (announced != null && announced != length) {
        in.abort();
        throw FetchException.fatal(
            what
                + ": asked the store for "
                + length
                + " bytes at "
                + offset
                + ", it sent "
                + announced
                + (announced == size
                    ? " (the whole object: the store does not serve byte ranges)"
                    : ""));
      }
      return new Body(new SdkStream(in), length);
    }
  }

  private static long sizeOrUnknown(Long size) {
    return size == null ? RemoteFile.UNKNOWN_SIZE : size;
  }

  @Override
  public void close() {
    s3.close();
  }

  private FetchException translate(S3Exception e, String what) {
    int status = e.statusCode();
    String code = e.awsErrorDetails() == null ? null : e.awsErrorDetails().errorCode();
    if (status == 403) {
      return accessDenied(what, code);
    }
    if ("NoSuchBucket".equals(code)) {
      return FetchException.fatal(
          "bucket '"
              + bucket
              + "' not found ("
              + what
              + "): check the URI"
              + (endpointDescription == null ? "" : " and the endpoint " + endpointDescription));
    }
    if (status == 404) {
      return FetchException.fatal(
          what + ": not found; did it change during the download? Run again.");
    }
    if (status == 301
        || "PermanentRedirect".equals(code)
        || "AuthorizationHeaderMalformed".equals(code)) {
      return FetchException.fatal(
          what + ": the bucket is in another region: set AWS_REGION to its region");
    }
    String message = e.awsErrorDetails() == null ? null : e.awsErrorDetails().errorMessage();
    String detail =
        (code != null ? code : "HTTP " + status) + (message == null ? "" : ": " + message);
    return new FetchException(
        what + ": S3 error " + TargetPaths.printable(detail), Http.retryableStatus(status), e);
  }

  private FetchException accessDenied(String what, String code) {
    return FetchException.fatal(
        "access denied to "
            + what
            + (code == null ? "" : " (" + code + ")")
            + ": check the credentials secret or the pod's IAM role"
            + (anonymous ? " (no AWS credentials were found, so the request was anonymous)" : ""));
  }

  private FetchException unreachable(SdkClientException e) {
    String where = endpointDescription != null ? "the S3 endpoint " + endpointDescription : "S3";
    return new FetchException(
        "cannot reach "
            + where
            + " for "
            + displayUri()
            + ": "
            + Failures.describe(e)
            + (endpointDescription != null
                ? " (check --s3-endpoint, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL)"
                : ""),
        true,
        e);
  }

  /**
   * Turns the SDK's unchecked read failures (e.g. a checksum mismatch) into IOExceptions; aborts on
   * close.
   */
  private static final class SdkStream extends FilterInputStream {
    private final ResponseInputStream<?> response;
    private boolean eof;

    SdkStream(ResponseInputStream<?> response) {
      super(response);
      this.response = response;
    }

    @Override
    public int read() throws IOException {
      try {
        int b = super.read();
        eof |= b < 0;
        return b;
      } catch (SdkException e) {
        throw new IOException(Failures.describe(e), e);
      }
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      try {
        int n = super.read(b, off, len);
        eof |= n < 0;
        return n;
      } catch (SdkException e) {
        throw new IOException(Failures.describe(e), e);
      }
    }

    @Override
    public void close() throws IOException {
      if (!eof) {
        response.abort(); // do not drain the rest of a large object to reuse the connection
      }
      try {
        super.close();
      } catch (SdkException e) {
        throw new IOException(Failures.describe(e), e);
      }
    }
  }
}
