package dev.warmstart.fetch.command;

import java.io.StringReader;
import java.security.KeyStore;
import javax.net.ssl.TrustManagerFactory;
import javax.xml.stream.XMLInputFactory;
import javax.xml.stream.XMLStreamReader;

/**
 * Work that fetch-model's first requests need in any case, started on a second thread while the
 * main thread builds the client and lists the model: the trust store (the JDK keeps it once loaded,
 * and every HTTPS client, the S3 client's included, loads it when it is built) and the XML parser
 * that reads S3's answers. Each costs tens of milliseconds of a fresh JVM, on every cold start's
 * path; with two cores that time overlaps instead of adding up. Best effort: a failure here shows
 * up, if at all, where the real use is.
 */
final class StartUp {
  private StartUp() {}

  static void warmInBackground() {
    Thread t = new Thread(StartUp::warm, "fetch-model-start-up");
    t.setDaemon(true);
    t.start();
  }

  private static void warm() {
    try {
      TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm())
          .init((KeyStore) null);
    } catch (Exception | LinkageError ignored) {
      // the client that needs it says what is wrong
    }
    try {
      XMLStreamReader r =
          XMLInputFactory.newInstance().createXMLStreamReader(new StringReader("<a>b</a>"));
      while (r.hasNext()) {
        r.next();
      }
      r.close();
    } catch (Exception | LinkageError ignored) {
      // likewise
    }
  }
}
