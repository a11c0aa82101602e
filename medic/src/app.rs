//! The composition root: builds medic's actor graph and HTTP server from a configuration. `medic serve`,
//! `medic demo` and the end-to-end tests all start medic through [`start`].
//!
//! ```text
//! webhook → Intake (store) → ContextCollector → Director → Network | Database | Compute
//!                                                   └──→ Executor (guard → apply → verify)
//! Director ─Notify→ Notifier (outbox → Slack); new incidents pass the OpenedAnnouncer on their way in; the
//! watchtower's suspensions and resumptions of writes reach the Notifier too.
//! ```
use actix::{Actor, Addr, AsyncContext};
use actix_web::{App, HttpServer, web};
use anyhow::{Context, Result};
use medic_agents::SpecialistActor;
use medic_agents::llm::{AssistedSpecialist, Reasoner};
use medic_collector::intake::IntakeOutputs;
use medic_collector::{ContextCollector, KubeClusterRead};
use medic_core::ports::{AuditSink, Clock, ClusterRead, SystemClock};
use medic_director::{Director, DirectorLinks, ModelAdjudicator};
use medic_executor::{Executor, Guard, KubeApi, KyvernoGate, Runner};
use medic_memory::MemoryActor;
use medic_playbooks::Catalog;
use medic_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{KubernetesConfig, MedicConfig};
use crate::http::{self, HttpState, WritesAlwaysEnabled};
use crate::notify::{Notifier, OpenedAnnouncer, announce_writes};

/// Reads a secret from the environment medic runs in.
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What the caller may replace: the clock (the lab's virtual clock in the lab), the cluster client (a
/// client for the lab), the environment secrets are read from, and the listening socket (bound before
/// start, so that a sender can be told the address before medic runs).
#[derive(Default)]
pub struct Overrides {
    pub clock: Option<Arc<dyn Clock>>,
    pub kube_client: Option<kube::Client>,
    pub env: Option<EnvLookup>,
    pub listener: Option<std::net::TcpListener>,
}

/// A running medic. Dropping it does not stop it; call [`Medic::stop`].
pub struct Medic {
    /// Where the HTTP server listens (the configured address, with the port the OS chose for port 0).
    pub addr: SocketAddr,
    pub store: Store,
    pub director: Addr<Director>,
    pub catalog: Arc<Catalog>,
    server: actix_web::dev::ServerHandle,
}

impl Medic {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, lets running ones finish, and closes the store.
    pub async fn stop(self) {
        self.server.stop(true).await;
        self.store.close().await;
    }
}

/// A client for the cluster the configuration names.
pub async fn kube_client(config: &KubernetesConfig) -> Result<kube::Client> {
    let options = kube::config::KubeConfigOptions { context: config.context.clone(), ..Default::default() };
    let kube_config = match &config.kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &options).await.context("loading the kubeconfig")?
        }
        None if config.context.is_some() => {
            kube::Config::from_kubeconfig(&options).await.context("loading the kubeconfig context")?
        }
        None => kube::Config::infer().await.context("finding a cluster (KUBECONFIG, ~/.kube/config, in-cluster)")?,
    };
    kube::Client::try_from(kube_config).context("building the cluster client")
}

/// Builds and starts medic. Must run inside an actix system (`#[actix_rt::main]`, `#[actix_rt::test]`).
pub async fn start(config: MedicConfig, overrides: Overrides) -> Result<Medic> {
    config.validate()?;
    let clock: Arc<dyn Clock> = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
    let store = config.store.clone().build_async(clock.clone()).await.context("opening the store")?;
    let audit: Arc<dyn AuditSink> = Arc::new(store.clone());
    let catalog = Arc::new(
        match &config.playbooks.dir {
            Some(dir) => Catalog::builtin_with_overrides(dir),
            None => Catalog::builtin(),
        }
        .context("loading the playbooks")?,
    );
    let client = match overrides.kube_client {
        Some(client) => client,
        None => kube_client(&config.kubernetes).await?,
    };
    let reader: Arc<dyn ClusterRead> = Arc::new(KubeClusterRead::new(client.clone()));

    // The model assist (`[llm]`): absent, medic runs on its rules alone.
    let reasoner = match &config.llm {
        Some(llm) => Some(
            Reasoner::build(llm.clone(), catalog.clone(), Some(audit.clone()), Some(clock.clone()))
                .context("building the model assist of [llm]")?,
        ),
        None => None,
    };
    let mut specialists = Vec::new();
    for specialist in config.specialists() {
        let built: Arc<dyn medic_agents::Specialist> = Arc::from(specialist.build()?);
        let name = built.name().to_string();
        let actor = match reasoner.as_ref().filter(|r| r.config().assists(&name)) {
            Some(reasoner) => {
                // The model's answer must reach the Director before its specialist deadline.
                let within =
                    reasoner.config().answer_within_ms.unwrap_or(config.director.specialist_deadline_ms * 9 / 10);
                AssistedSpecialist::new(built, reasoner.clone(), Duration::from_millis(within)).start().recipient()
            }
            None => SpecialistActor::new(built).start().recipient(),
        };
        specialists.push((name, actor));
    }

    let policy =
        KyvernoGate::from_config(&config.executor).context("loading the policies of [executor] policy_dirs")?;
    let runner = Runner {
        api: KubeApi::new(client, config.executor.field_manager.clone()),
        reader: reader.clone(),
        audit: audit.clone(),
        clock: clock.clone(),
        guard: Guard::from_config(&config.executor, &config.modes),
        policy,
        config: config.executor.clone(),
        store: store.clone(),
    };
    let mut executor = Executor::new(runner);
    if let Some(reasoner) = &reasoner {
        executor = executor.with_write_gate(reasoner.watchtower().clone());
    }
    let executor = executor.start();

    let (memory, opened) =
        MemoryActor::open_and_start(config.memory(), store.clone()).await.context("opening the incident memory")?;
    tracing::info!(?opened, "incident memory ready");
    let lookup = |var: &str| match &overrides.env {
        Some(env) => env(var),
        None => std::env::var(var).ok(),
    };
    let sinks = config.notify.build_sinks(&lookup).context("building the notification sinks of [notify]")?;
    let slack = config.notify.build_interactions(&lookup).context("building [notify.interactions]")?.map(Arc::new);
    let api = Arc::new(config.api.build(&lookup).context("building the API tokens of [api]")?);
    let notifier = (!sinks.is_empty()).then(|| {
        let options = config.notify.render_options();
        Notifier::new(store.clone(), sinks, options, config.notify.delivery.clone()).start()
    });
    // Slack hears when the watchtower suspends every write and when writes resume.
    if let (Some(reasoner), Some(notifier)) = (&reasoner, &notifier) {
        announce_writes(reasoner.watchtower().transitions(), notifier.clone().recipient());
    }
    // The collector and the Director talk both ways (context to diagnose; a second look after a fix): the
    // collector's mailbox exists before either actor runs.
    let collector_context = actix::Context::<ContextCollector>::new();
    let links = DirectorLinks {
        specialists,
        executor: executor.recipient(),
        recall: Some(memory.clone().recipient()),
        remember: Some(memory.recipient()),
        notify: notifier.clone().map(Addr::recipient),
        recollect: Some(collector_context.address().recipient()),
    };
    let mut director =
        Director::new(config.director.clone(), links, catalog.clone(), store.clone()).with_modes(config.modes.clone());
    // Adjudicates when `[llm] director` is set; credits the models with verified fixes either way.
    if let Some(reasoner) = &reasoner {
        director = director.with_adjudicator(Arc::new(ModelAdjudicator::new(reasoner.clone())));
    }
    let director = director.start();
    let metrics = medic_collector::metrics::metric_context(config.prometheus.as_ref())
        .context("building the Prometheus client of [prometheus]")?;
    let collector = collector_context.run(
        ContextCollector::new(reader, audit, director.clone().recipient(), config.collector.clone())
            .with_clock(clock.clone())
            .with_metrics(metrics),
    );
    // Incidents that were in flight when medic last stopped continue where they were.
    crate::resume::resume_in_flight(&store, &director, &collector.clone().recipient())
        .await
        .context("resuming the incidents in flight")?;

    let open_incident = match &notifier {
        Some(notifier) => OpenedAnnouncer::new(notifier.clone().recipient(), collector.recipient()).start().recipient(),
        None => collector.recipient(),
    };
    let outputs = IntakeOutputs { open_incident, alert_resolved: director.clone().recipient() };
    let intake = match &overrides.env {
        Some(env) => config.intake.build_with(store.clone(), outputs, clock.clone(), |k| env(k)),
        None => config.intake.build_with(store.clone(), outputs, clock.clone(), |k| std::env::var(k).ok()),
    }
    .context("building the webhook intake")?;
    let state = HttpState {
        intake: Arc::new(intake),
        store: store.clone(),
        director: director.clone().recipient(),
        auth: api,
        slack,
        notifier: notifier.map(Addr::recipient),
        watchtower: match &reasoner {
            Some(reasoner) => Arc::new(http::ModelAssistProbe(reasoner.clone())),
            None => Arc::new(WritesAlwaysEnabled),
        },
    };
    let server = HttpServer::new(move || App::new().app_data(web::Data::new(state.clone())).configure(http::routes))
        .workers(config.server.workers)
        .disable_signals();
    let server = match overrides.listener {
        Some(listener) => server.listen(listener).context("serving on the given socket")?,
        None => server.bind(config.server.listen).with_context(|| format!("listening on {}", config.server.listen))?,
    };
    let addr = *server.addrs().first().context("the server has no address")?;
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    tracing::info!(%addr, playbooks = catalog.len(), "medic is listening");
    Ok(Medic { addr, store, director, catalog, server: handle })
}
