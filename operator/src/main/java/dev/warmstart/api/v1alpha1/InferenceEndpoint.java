package dev.warmstart.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * A model served on a GPU node pool, with its serving image cached and its cold starts accounted
 * for.
 */
@Group(ImageCache.GROUP)
@Version(ImageCache.VERSION)
@ShortNames("ie")
@Categories("warmstart")
@AdditionalPrinterColumn(
    name = "Replicas",
    type = AdditionalPrinterColumn.Type.INTEGER,
    jsonPath = ".status.replicas")
@AdditionalPrinterColumn(
    name = "Ready",
    type = AdditionalPrinterColumn.Type.INTEGER,
    jsonPath = ".status.readyReplicas")
@AdditionalPrinterColumn(
    name = "Cached",
    type = AdditionalPrinterColumn.Type.STRING,
    jsonPath = ".status.conditions[?(@.type==\"ImageCached\")].status")
@AdditionalPrinterColumn(
    name = "Warm",
    type = AdditionalPrinterColumn.Type.INTEGER,
    jsonPath = ".status.warmPool.ready")
@AdditionalPrinterColumn(
    name = "Status",
    type = AdditionalPrinterColumn.Type.STRING,
    jsonPath = ".status.conditions[?(@.type==\"Ready\")].reason")
@AdditionalPrinterColumn(
    name = "Cold-Start",
    type = AdditionalPrinterColumn.Type.STRING,
    jsonPath = ".status.coldStart.last.total")
@AdditionalPrinterColumn(
    name = "Gate",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1,
    jsonPath = ".status.coldStart.last.gateWait")
@AdditionalPrinterColumn(
    name = "Download",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1,
    jsonPath = ".status.coldStart.last.modelDownload")
@AdditionalPrinterColumn(
    name = "Pull",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1,
    jsonPath = ".status.coldStart.last.imagePull")
@AdditionalPrinterColumn(
    name = "Server-Start",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1,
    jsonPath = ".status.coldStart.last.serverStart")
@AdditionalPrinterColumn(
    name = "Median",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1,
    jsonPath = ".status.coldStart.median.total")
@AdditionalPrinterColumn(
    name = "URL",
    type = AdditionalPrinterColumn.Type.STRING,
    jsonPath = ".status.url",
    priority = 1)
@AdditionalPrinterColumn(
    name = "Age",
    type = AdditionalPrinterColumn.Type.DATE,
    jsonPath = ".metadata.creationTimestamp")
public class InferenceEndpoint
    extends CustomResource<InferenceEndpointSpec, InferenceEndpointStatus> implements Namespaced {}
