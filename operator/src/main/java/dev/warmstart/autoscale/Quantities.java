package dev.warmstart.autoscale;

import io.fabric8.kubernetes.api.model.Quantity;
import java.math.BigDecimal;
import java.math.MathContext;

/**
 * Kubernetes quantities (targets such as "4", "500m", "0.8") as numbers, and readings back as text.
 */
public final class Quantities {
  private Quantities() {}

  public static double toDouble(Quantity q) {
    return q.getNumericalAmount().doubleValue();
  }

  /**
   * A reading as a quantity string with four significant digits: "12", "0.8125", "1.235e+06" style
   * avoided.
   */
  public static String format(double v) {
    if (v == Math.rint(v) && Math.abs(v) < 1e15) {
      return Long.toString((long) v);
    }
    return new BigDecimal(v).round(new MathContext(4)).stripTrailingZeros().toPlainString();
  }
}
