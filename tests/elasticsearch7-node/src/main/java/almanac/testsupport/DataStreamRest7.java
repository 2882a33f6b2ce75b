package almanac.testsupport;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import org.elasticsearch.ResourceNotFoundException;
import org.elasticsearch.action.ActionListener;
import org.elasticsearch.action.support.IndicesOptions;
import org.elasticsearch.action.support.master.AcknowledgedResponse;
import org.elasticsearch.client.node.NodeClient;
import org.elasticsearch.cluster.ClusterState;
import org.elasticsearch.cluster.ClusterStateUpdateTask;
import org.elasticsearch.cluster.health.ClusterStateHealth;
import org.elasticsearch.cluster.metadata.DataStream;
import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.metadata.Metadata;
import org.elasticsearch.cluster.metadata.MetadataIndexTemplateService;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.Priority;
import org.elasticsearch.common.Strings;
import org.elasticsearch.index.Index;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.BytesRestResponse;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.rest.action.RestToXContentListener;
import org.elasticsearch.xcontent.XContentBuilder;

/**
 * {@code GET /_data_stream[/<name>]} and {@code DELETE /_data_stream/<name>} for the
 * Maven-Central-only 7.17 node. In 7.x these APIs (and their action types) live in x-pack's
 * data-streams plugin, which is not published; data streams themselves work once the
 * {@code _data_stream_timestamp} metadata mapper is registered (see Elasticsearch7Node).
 * These handlers act on the local node's cluster state directly: fine for a single-node test
 * cluster, where this node is the master. {@code PUT /_data_stream/<name>} is not provided:
 * the first write to a name matching a {@code data_stream} template creates the stream.
 */
final class DataStreamRest7 extends BaseRestHandler {
    private final Supplier<ClusterService> clusterService;
    private final IndexNameExpressionResolver resolver;

    DataStreamRest7(Supplier<ClusterService> clusterService, IndexNameExpressionResolver resolver) {
        this.clusterService = clusterService;
        this.resolver = resolver;
    }

    @Override
    public String getName() {
        return "almanac_data_stream_action";
    }

    @Override
    public List<Route> routes() {
        return List.of(
            new Route(RestRequest.Method.GET, "/_data_stream"),
            new Route(RestRequest.Method.GET, "/_data_stream/{name}"),
            new Route(RestRequest.Method.DELETE, "/_data_stream/{name}")
        );
    }

    private List<String> resolve(ClusterState state, String[] names, IndicesOptions options) {
        return resolver.dataStreamNames(state, options, names.length == 0 ? new String[] { "*" } : names);
    }

    @Override
    protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
        String[] names = Strings.splitStringByCommaToArray(request.param("name"));
        IndicesOptions options = IndicesOptions.fromRequest(
            request,
            IndicesOptions.fromOptions(false, true, true, true, false, false, true, false)
        );
        if (request.method() == RestRequest.Method.DELETE) {
            return channel -> deleteDataStreams(names, options, client, new RestToXContentListener<>(channel));
        }
        return channel -> {
            ClusterState state = clusterService.get().state();
            List<String> found = new ArrayList<>(resolve(state, names, options));
            found.sort(String::compareTo);
            XContentBuilder b = channel.newBuilder();
            b.startObject().startArray("data_streams");
            for (String name : found) {
                DataStream ds = state.metadata().dataStreams().get(name);
                String template = MetadataIndexTemplateService.findV2Template(state.metadata(), name, false);
                var health = new ClusterStateHealth(state, ds.getIndices().stream().map(Index::getName).toArray(String[]::new));
                b.startObject();
                b.field("name", ds.getName());
                b.startObject("timestamp_field").field("name", ds.getTimeStampField().getName()).endObject();
                b.startArray("indices");
                for (Index index : ds.getIndices()) {
                    b.startObject().field("index_name", index.getName()).field("index_uuid", index.getUUID()).endObject();
                }
                b.endArray();
                b.field("generation", ds.getGeneration());
                if (ds.getMetadata() != null) {
                    b.field("_meta", ds.getMetadata());
                }
                b.field("status", health.getStatus().name());
                if (template != null) {
                    b.field("template", template);
                }
                b.field("hidden", ds.isHidden());
                b.field("system", ds.isSystem());
                b.field("replicated", ds.isReplicated());
                b.endObject();
            }
            b.endArray().endObject();
            channel.sendResponse(new BytesRestResponse(RestStatus.OK, b));
        };
    }

    /** Drops the data streams from the metadata, then deletes their (now plain) backing indices. */
    private void deleteDataStreams(String[] names, IndicesOptions options, NodeClient client, ActionListener<AcknowledgedResponse> listener) {
        List<Index> backing = new ArrayList<>();
        clusterService.get().submitStateUpdateTask("almanac-remove-data-stream [" + String.join(",", names) + "]",
            new ClusterStateUpdateTask(Priority.HIGH) {
                @Override
                public ClusterState execute(ClusterState current) {
                    backing.clear();
                    List<String> found = resolve(current, names, options);
                    if (found.isEmpty()) {
                        if (Strings.isAllOrWildcard(names) || List.of(names).stream().anyMatch(n -> n.contains("*"))) {
                            return current;
                        }
                        throw new ResourceNotFoundException("data streams " + String.join(",", names) + " not found");
                    }
                    Metadata.Builder metadata = Metadata.builder(current.metadata());
                    for (String name : found) {
                        backing.addAll(current.metadata().dataStreams().get(name).getIndices());
                        metadata.removeDataStream(name);
                    }
                    return ClusterState.builder(current).metadata(metadata).build();
                }

                @Override
                public void onFailure(String source, Exception e) {
                    listener.onFailure(e);
                }

                @Override
                public void clusterStateProcessed(String source, ClusterState oldState, ClusterState newState) {
                    if (backing.isEmpty()) {
                        listener.onResponse(AcknowledgedResponse.TRUE);
                        return;
                    }
                    client.admin().indices().prepareDelete(backing.stream().map(Index::getName).toArray(String[]::new))
                        .setIndicesOptions(IndicesOptions.lenientExpandHidden())
                        .execute(ActionListener.wrap(r -> listener.onResponse(AcknowledgedResponse.TRUE), listener::onFailure));
                }
            });
    }
}
