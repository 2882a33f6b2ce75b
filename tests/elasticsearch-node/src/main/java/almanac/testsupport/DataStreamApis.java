package almanac.testsupport;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.elasticsearch.ResourceNotFoundException;
import org.elasticsearch.action.ActionListener;
import org.elasticsearch.action.datastreams.CreateDataStreamAction;
import org.elasticsearch.action.datastreams.DeleteDataStreamAction;
import org.elasticsearch.action.datastreams.GetDataStreamAction;
import org.elasticsearch.action.datastreams.GetDataStreamAction.Response.DataStreamInfo;
import org.elasticsearch.action.datastreams.GetDataStreamAction.Response.IndexProperties;
import org.elasticsearch.action.datastreams.GetDataStreamAction.Response.ManagedBy;
import org.elasticsearch.action.support.ActionFilters;
import org.elasticsearch.action.support.IndicesOptions;
import org.elasticsearch.action.support.master.AcknowledgedResponse;
import org.elasticsearch.action.support.master.AcknowledgedTransportMasterNodeAction;
import org.elasticsearch.action.support.master.TransportMasterNodeReadAction;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.ClusterState;
import org.elasticsearch.cluster.ClusterStateUpdateTask;
import org.elasticsearch.cluster.block.ClusterBlockException;
import org.elasticsearch.cluster.block.ClusterBlockLevel;
import org.elasticsearch.cluster.health.ClusterStateHealth;
import org.elasticsearch.cluster.metadata.DataStream;
import org.elasticsearch.cluster.metadata.IndexMetadata;
import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.metadata.Metadata;
import org.elasticsearch.cluster.metadata.MetadataCreateDataStreamService;
import org.elasticsearch.cluster.metadata.MetadataDeleteIndexService;
import org.elasticsearch.cluster.metadata.MetadataIndexTemplateService;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.Priority;
import org.elasticsearch.common.Strings;
import org.elasticsearch.common.inject.Inject;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.util.concurrent.EsExecutors;
import org.elasticsearch.index.Index;
import org.elasticsearch.indices.SystemIndices;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.action.RestToXContentListener;
import org.elasticsearch.tasks.Task;
import org.elasticsearch.threadpool.ThreadPool;
import org.elasticsearch.transport.TransportService;

/**
 * {@code PUT|GET|DELETE /_data_stream/<name>} for the Maven-Central-only node.
 *
 * <p>Data streams themselves are in the server jar (templates with {@code data_stream: {}},
 * auto-creation on the first write, rollover, deleting a non-write backing index), but these
 * three endpoints and their transport actions live in the distribution's {@code data-streams}
 * module, which is not published. The action types and their request/response classes are in
 * the server, so these small transport actions (modelled on the module's) make the standard
 * REST API answer with the standard body. Not provided: data stream stats, modify, promote,
 * migrate, lifecycle APIs and the data stream lifecycle service.
 */
final class DataStreamApis {
    private DataStreamApis() {}

    static List<String> resolve(IndexNameExpressionResolver resolver, ClusterState state, String[] names, IndicesOptions options) {
        return resolver.dataStreamNames(state, options, names.length == 0 ? new String[] { "*" } : names);
    }

    public static final class CreateTransport extends AcknowledgedTransportMasterNodeAction<CreateDataStreamAction.Request> {
        private final MetadataCreateDataStreamService createService;
        private final SystemIndices systemIndices;

        @Inject
        public CreateTransport(
            TransportService transportService,
            ClusterService clusterService,
            ThreadPool threadPool,
            ActionFilters actionFilters,
            IndexNameExpressionResolver resolver,
            MetadataCreateDataStreamService createService,
            SystemIndices systemIndices
        ) {
            super(CreateDataStreamAction.NAME, transportService, clusterService, threadPool, actionFilters,
                CreateDataStreamAction.Request::new, resolver, EsExecutors.DIRECT_EXECUTOR_SERVICE);
            this.createService = createService;
            this.systemIndices = systemIndices;
        }

        @Override
        protected void masterOperation(Task task, CreateDataStreamAction.Request request, ClusterState state,
                                       ActionListener<AcknowledgedResponse> listener) {
            var descriptor = systemIndices.validateDataStreamAccess(request.getName(), threadPool.getThreadContext());
            createService.createDataStream(
                new MetadataCreateDataStreamService.CreateDataStreamClusterStateUpdateRequest(
                    request.getName(), request.getStartTime(), descriptor, request.masterNodeTimeout(), request.ackTimeout(), true),
                listener);
        }

        @Override
        protected ClusterBlockException checkBlock(CreateDataStreamAction.Request request, ClusterState state) {
            return state.blocks().globalBlockedException(ClusterBlockLevel.METADATA_WRITE);
        }
    }

    public static final class DeleteTransport extends AcknowledgedTransportMasterNodeAction<DeleteDataStreamAction.Request> {
        @Inject
        public DeleteTransport(
            TransportService transportService,
            ClusterService clusterService,
            ThreadPool threadPool,
            ActionFilters actionFilters,
            IndexNameExpressionResolver resolver
        ) {
            super(DeleteDataStreamAction.NAME, transportService, clusterService, threadPool, actionFilters,
                DeleteDataStreamAction.Request::new, resolver, EsExecutors.DIRECT_EXECUTOR_SERVICE);
        }

        @Override
        protected void masterOperation(Task task, DeleteDataStreamAction.Request request, ClusterState state,
                                       ActionListener<AcknowledgedResponse> listener) {
            Settings settings = clusterService.getSettings();
            clusterService.submitUnbatchedStateUpdateTask(
                "remove-data-stream [" + String.join(",", request.getNames()) + "]",
                new ClusterStateUpdateTask(Priority.HIGH, request.masterNodeTimeout()) {
                    @Override
                    public ClusterState execute(ClusterState current) {
                        Set<String> names = new HashSet<>(resolve(indexNameExpressionResolver, current, request.getNames(), request.indicesOptions()));
                        if (names.isEmpty()) {
                            if (request.isWildcardExpressionsOriginallySpecified()) {
                                return current;
                            }
                            throw new ResourceNotFoundException("data streams " + String.join(",", request.getNames()) + " not found");
                        }
                        Set<Index> backing = new HashSet<>();
                        Metadata.Builder metadata = Metadata.builder(current.metadata());
                        for (String name : names) {
                            backing.addAll(current.metadata().dataStreams().get(name).getIndices());
                            metadata.removeDataStream(name);
                        }
                        // Data stream first, then its indices (deleting a write index of a live data stream is refused).
                        ClusterState withoutStreams = ClusterState.builder(current).metadata(metadata).build();
                        return MetadataDeleteIndexService.deleteIndices(withoutStreams, backing, settings);
                    }

                    @Override
                    public void onFailure(Exception e) {
                        listener.onFailure(e);
                    }

                    @Override
                    public void clusterStateProcessed(ClusterState oldState, ClusterState newState) {
                        listener.onResponse(AcknowledgedResponse.TRUE);
                    }
                });
        }

        @Override
        protected ClusterBlockException checkBlock(DeleteDataStreamAction.Request request, ClusterState state) {
            return state.blocks().globalBlockedException(ClusterBlockLevel.METADATA_WRITE);
        }
    }

    public static final class GetTransport extends TransportMasterNodeReadAction<GetDataStreamAction.Request, GetDataStreamAction.Response> {
        @Inject
        public GetTransport(
            TransportService transportService,
            ClusterService clusterService,
            ThreadPool threadPool,
            ActionFilters actionFilters,
            IndexNameExpressionResolver resolver
        ) {
            super(GetDataStreamAction.NAME, transportService, clusterService, threadPool, actionFilters,
                GetDataStreamAction.Request::new, resolver, GetDataStreamAction.Response::new, EsExecutors.DIRECT_EXECUTOR_SERVICE);
        }

        @Override
        protected void masterOperation(Task task, GetDataStreamAction.Request request, ClusterState state,
                                       ActionListener<GetDataStreamAction.Response> listener) {
            Metadata metadata = state.metadata();
            List<String> names = new ArrayList<>(resolve(indexNameExpressionResolver, state, request.getNames(), request.indicesOptions()));
            names.sort(String::compareTo);
            List<DataStreamInfo> infos = new ArrayList<>();
            for (String name : names) {
                DataStream ds = metadata.dataStreams().get(name);
                String template = MetadataIndexTemplateService.findV2Template(metadata, name, false);
                String policy = template == null ? null : MetadataIndexTemplateService.resolveSettings(metadata, template).get("index.lifecycle.name");
                boolean templatePreferIlm = template == null
                    || MetadataIndexTemplateService.resolveSettings(metadata, template).getAsBoolean("index.lifecycle.prefer_ilm", true);
                Map<Index, IndexProperties> props = new LinkedHashMap<>();
                for (Index index : ds.getIndices()) {
                    IndexMetadata im = metadata.index(index);
                    String indexPolicy = im == null ? null : im.getSettings().get("index.lifecycle.name");
                    boolean preferIlm = im == null || im.getSettings().getAsBoolean("index.lifecycle.prefer_ilm", true);
                    ManagedBy managedBy = Strings.hasText(indexPolicy) ? ManagedBy.ILM
                        : ds.getLifecycle() != null && ds.getLifecycle().isEnabled() ? ManagedBy.LIFECYCLE : ManagedBy.UNMANAGED;
                    props.put(index, new IndexProperties(preferIlm, indexPolicy, managedBy));
                }
                var health = new ClusterStateHealth(state, ds.getIndices().stream().map(Index::getName).toArray(String[]::new));
                infos.add(new DataStreamInfo(ds, health.getStatus(), template, policy, null, props, templatePreferIlm));
            }
            listener.onResponse(new GetDataStreamAction.Response(infos));
        }

        @Override
        protected ClusterBlockException checkBlock(GetDataStreamAction.Request request, ClusterState state) {
            return state.blocks().globalBlockedException(ClusterBlockLevel.METADATA_READ);
        }
    }

    static final class RestHandler extends BaseRestHandler {
        @Override
        public String getName() {
            return "almanac_data_stream_action";
        }

        @Override
        public List<Route> routes() {
            return List.of(
                new Route(RestRequest.Method.GET, "/_data_stream"),
                new Route(RestRequest.Method.GET, "/_data_stream/{name}"),
                new Route(RestRequest.Method.PUT, "/_data_stream/{name}"),
                new Route(RestRequest.Method.DELETE, "/_data_stream/{name}")
            );
        }

        @Override
        protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
            String[] names = Strings.splitStringByCommaToArray(request.param("name"));
            switch (request.method()) {
                case PUT -> {
                    var req = new CreateDataStreamAction.Request(request.param("name"));
                    return channel -> client.execute(CreateDataStreamAction.INSTANCE, req, new RestToXContentListener<>(channel));
                }
                case DELETE -> {
                    var req = new DeleteDataStreamAction.Request(names);
                    req.indicesOptions(IndicesOptions.fromRequest(request, req.indicesOptions()));
                    return channel -> client.execute(DeleteDataStreamAction.INSTANCE, req, new RestToXContentListener<>(channel));
                }
                default -> {
                    var req = new GetDataStreamAction.Request(names);
                    req.indicesOptions(IndicesOptions.fromRequest(request, req.indicesOptions()));
                    req.includeDefaults(request.paramAsBoolean("include_defaults", false));
                    return channel -> client.execute(GetDataStreamAction.INSTANCE, req, new RestToXContentListener<>(channel));
                }
            }
        }
    }
}
