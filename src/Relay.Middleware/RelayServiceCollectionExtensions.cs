using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Relay;
using Relay.Admission;
using Relay.Cluster;
using Relay.Configuration;
using Relay.Connection;
using Relay.Identity;
using Relay.Introduction;
using Relay.Lifetime;
using Relay.Rooms;
using Relay.Targeted;
using Relay.Sigver;
using Relay.Telemetry;
using Yarp.ReverseProxy.Configuration.RouteValidators;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the relay's services.</summary>
public static class RelayServiceCollectionExtensions
{
    /// <summary>
    /// Adds the relay with default options (change them with <c>services.Configure&lt;RelayOptions&gt;</c>).
    /// Options are validated when the host starts.
    /// </summary>
    public static IRelayBuilder AddRelay(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(service => service.ServiceType == typeof(RelayDispatcher)))
        {
            return new RelayBuilder(services);
        }

        services.AddOptions<RelayOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RelayOptions>, RelayOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRouteValidator, RelayRouteValidator>());
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(static sp => sp.GetRequiredService<IOptions<RelayOptions>>().Value);
        services.TryAddSingleton<RelayIdPolicy>();
        services.TryAddSingleton<RelayMetrics>();
        services.TryAddSingleton<RelaySessions>();
        services.TryAddSingleton<RelaySocketAcceptor>();
        services.TryAddSingleton<RelayOrigins>();
        services.TryAddSingleton<RelayAccess>();
        services.AddAuthorization();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAuthorizationHandler, DocumentsClaimHandler>());
        services.AddOptions<AuthorizationOptions>().Configure(static authorization =>
            authorization.AddPolicy(RelayIdentityOptions.DocumentsClaimPolicyName, policy => policy.AddRequirements(new DocumentsClaimRequirement())));
        services.TryAddSingleton<PeerRegistry>();

        // One node: the in-process registry. With Relay:Cluster:Redis, it is wrapped to share presence through Redis.
        services.TryAddSingleton<IPeerRegistry>(static sp => sp.GetRequiredService<RelayOptions>().Cluster.Redis is null
            ? sp.GetRequiredService<PeerRegistry>()
            : sp.GetRequiredService<ClusterPeerRegistry>());
        services.TryAddSingleton<ClusterNode>();
        services.TryAddSingleton<ClusterPeerRegistry>();
        services.TryAddSingleton<ClusterRooms>();
        services.AddHostedService<ClusterService>();
        services.AddHttpForwarder();
        services.TryAddSingleton<ClusterPairings>();
        services.AddHostedService(static sp => sp.GetRequiredService<ClusterPairings>());
        services.TryAddSingleton<PairingForwarder>();
        services.TryAddSingleton<ClusterSigver>();
        services.AddHealthChecks().AddCheck<ClusterHealthCheck>("relay-cluster");
        services.TryAddSingleton<PairingBroker>();
        services.TryAddSingleton<PipeBuffers>();
        services.TryAddSingleton<IntroductionHandler>();
        services.TryAddSingleton<ConnectionHandler>();
        services.TryAddSingleton<IRoomRegistry, RoomRegistry>();
        services.TryAddSingleton<RoomsHandler>();
        services.AddDataProtection();
        services.TryAddSingleton<TargetedRegistry>();
        services.TryAddSingleton<ITargetedRegistry>(static sp => sp.GetRequiredService<TargetedRegistry>());
        services.TryAddSingleton<ClusterTargeted>();
        services.TryAddSingleton<TargetedIdentity>();
        services.TryAddSingleton<TargetedHandler>();
        services.TryAddSingleton<ISigverGroups, SigverGroups>();
        services.TryAddSingleton<SigverHandler>();
        services.TryAddSingleton<RelayDispatcher>();
        services.TryAddSingleton<IRelayStatus, RelayStatus>();
        services.TryAddSingleton<RelayAdmissionPolicy>();
        services.AddRateLimiter();
        services.AddOptions<RateLimiterOptions>().Configure<RelayAdmissionPolicy>(
            static (limiter, policy) => limiter.AddPolicy(RelayAdmissionOptions.PolicyName, policy));
        return new RelayBuilder(services);
    }

    /// <summary>
    /// Adds the relay with options bound from <paramref name="configuration"/> (the <c>Relay</c> section).
    /// Unknown keys are errors, so a misspelt setting fails start-up instead of being ignored.
    /// </summary>
    public static IRelayBuilder AddRelay(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);

        var builder = services.AddRelay();
        services.AddOptions<RelayOptions>().Bind(configuration, binder => binder.ErrorOnUnknownConfiguration = true);
        return builder;
    }

    private sealed class RelayBuilder(IServiceCollection services) : IRelayBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}
