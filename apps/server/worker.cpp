#include "server/worker.h"

#include "server/http_error.h"
#include "server/preview.h"

#include <cmath>
#include <filesystem>
#include <ctime>

namespace sdpp::server {

using Clock = std::chrono::steady_clock;

struct Worker::Job {
    bool is_switch = false;
    JobSpec spec;          // generation
    CatalogEntry target;   // model the job runs on (switch: the model to load)
    std::promise<JobOutcome> done;
};

namespace {

std::string timestamp_now() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
    return buf;
}

const char* job_name(Endpoint e) {
    switch (e) {
    case Endpoint::Txt2Img: return "txt2img";
    case Endpoint::Img2Img: return "img2img";
    case Endpoint::OpenAIImages: return "txt2img";
    }
    return "";
}

}  // namespace

Worker::Worker(WorkerOptions options, ModelCatalog& catalog) : opt_(std::move(options)), catalog_(catalog) {}

Worker::~Worker() { shutdown(); }

void Worker::start(const CatalogEntry& first) {
    load(first);
    {
        std::lock_guard lock(mu_);
        selected_ = first;
    }
    thread_ = std::thread([this] { loop(); });
}

void Worker::load(const CatalogEntry& entry) {
    engine_.reset();  // free the old model before the new one maps its weights
    {
        std::lock_guard lock(mu_);
        loaded_ = LoadedModel{};
    }
    ModelOptions mo = opt_.model;
    mo.model = entry.path;
    mo.name = entry.path == opt_.default_model ? std::filesystem::path(kDefaultModel.repo).filename().string() : "";
    engine_ = std::make_unique<Engine>(mo);
    engine_entry_ = entry;
    catalog_.set_hash(entry.path, engine_->model().hash);
    std::lock_guard lock(mu_);
    loaded_.description = engine_->model();
    loaded_.title = catalog_.title(entry);
    loaded_.memory = engine_->memory();
    loaded_.loaded = true;
}

void Worker::ensure_model(const CatalogEntry& entry) {
    if (engine_ && engine_entry_.path == entry.path) return;
    load(entry);
}

std::future<JobOutcome> Worker::enqueue(std::unique_ptr<Job> job) {
    std::future<JobOutcome> f = job->done.get_future();
    std::lock_guard lock(mu_);
    if (closing_) throw HttpError(503, "the server is shutting down");
    if (queue_.size() >= opt_.max_queue) {
        const int wait = int(std::ceil(avg_job_seconds_ * double(queue_.size() + 1)));
        throw HttpError(503, "the queue is full (" + std::to_string(queue_.size()) + " requests waiting); try again later",
                        std::max(1, wait));
    }
    queue_.push_back(std::move(job));
    cv_.notify_all();
    return f;
}

std::future<JobOutcome> Worker::submit_generation(JobSpec spec) {
    auto job = std::make_unique<Job>();
    job->spec = std::move(spec);
    if (!job->spec.checkpoint.empty()) {
        std::optional<CatalogEntry> e = catalog_.find(job->spec.checkpoint);
        if (!e)
            throw HttpError(422, "\"override_settings.sd_model_checkpoint\": no model named \"" + job->spec.checkpoint +
                                     "\" in the models folder (see /sdapi/v1/sd-models)");
        job->target = *e;
    }
    return enqueue(std::move(job));
}

std::future<JobOutcome> Worker::submit_switch(const CatalogEntry& entry) {
    auto job = std::make_unique<Job>();
    job->is_switch = true;
    job->target = entry;
    return enqueue(std::move(job));
}

void Worker::interrupt() {
    std::lock_guard lock(mu_);
    if (!state_.busy) return;
    interrupt_ = true;
    state_.interrupted = true;
}

void Worker::skip() {
    std::lock_guard lock(mu_);
    if (!state_.busy) return;
    skip_ = true;
    state_.skipped = true;
}

void Worker::shutdown() {
    std::deque<std::unique_ptr<Job>> waiting;
    {
        std::lock_guard lock(mu_);
        closing_ = true;
        if (state_.busy) interrupt_ = true;
        waiting.swap(queue_);
        cv_.notify_all();
    }
    for (auto& job : waiting) {
        JobOutcome out;
        out.status = 503;
        out.error = "the server is shutting down; the request was not run";
        job->done.set_value(std::move(out));
    }
    if (thread_.joinable()) thread_.join();
}

size_t Worker::queued() const {
    std::lock_guard lock(mu_);
    return queue_.size();
}

LoadedModel Worker::loaded() const {
    std::lock_guard lock(mu_);
    return loaded_;
}

CatalogEntry Worker::selected() const {
    std::lock_guard lock(mu_);
    return selected_;
}

void Worker::loop() {
    for (;;) {
        std::unique_ptr<Job> job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
            if (queue_.empty()) return;  // closing
            job = std::move(queue_.front());
            queue_.pop_front();
            if (!job->is_switch && job->target.path.empty()) job->target = selected_;
        }
        run(*job);
    }
}

void Worker::run(Job& job) {
    JobOutcome out;
    const auto t0 = Clock::now();
    out.job_timestamp = timestamp_now();
    try {
        if (job.is_switch) {
            ensure_model(job.target);
            std::lock_guard lock(mu_);
            selected_ = job.target;
        } else {
            ensure_model(job.target);
            run_generation(job, out);
        }
    } catch (const HttpError& e) {
        out.status = e.status;
        out.error = e.what();
    } catch (const Error& e) {
        out.status = 422;
        out.error = e.what();
    } catch (const std::bad_alloc&) {
        out.status = 500;
        out.error = "out of memory";
    } catch (const std::exception& e) {
        out.status = 500;
        out.error = std::string("internal error: ") + e.what();
    }
    out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    {
        std::lock_guard lock(mu_);
        state_ = ProgressSnapshot{};
        preview_.reset();
        preview_image_.reset();
        if (!job.is_switch && out.status == 200) avg_job_seconds_ = 0.8 * avg_job_seconds_ + 0.2 * out.seconds;
        if (engine_) loaded_.memory = engine_->memory();
    }
    // The model hash is known once the engine computed it (the first image's infotext needs it).
    if (engine_ && !engine_->model().hash.empty() && catalog_.hash(engine_entry_.path).empty()) {
        catalog_.set_hash(engine_entry_.path, engine_->model().hash);
        std::lock_guard lock(mu_);
        loaded_.description = engine_->model();
        loaded_.title = catalog_.title(engine_entry_);
    }
    // A job that overrode the checkpoint hands the selected model back (A1111's
    // override_settings_restore_afterwards) lazily: the next job loads what it needs.
    if (!job.is_switch && !job.spec.restore_checkpoint && !job.spec.checkpoint.empty() && out.status == 200) {
        std::lock_guard lock(mu_);
        selected_ = job.target;
    }
    job.done.set_value(std::move(out));
}

bool Worker::on_progress(const Progress& p, int batch) {
    std::lock_guard lock(mu_);
    if (p.stage == "sample" || p.stage == "hires") {
        state_.sampling_step = p.step;
        state_.sampling_steps = p.total;
        if (p.preview_image) {
            preview_image_ = std::make_shared<const Image>(*p.preview_image);
            ++preview_serial_;
        } else if (p.preview && !preview_image_) {  // the cheap preview, made when /progress asks
            preview_ = std::make_shared<const Latent>(*p.preview);
            ++preview_serial_;
        }
    }
    state_.job_no = batch;
    return !interrupt_ && !skip_;
}

void Worker::run_generation(Job& job, JobOutcome& out) {
    GenerateRequest r = job.spec.request;
    if (!job.spec.clip_skip_given && r.clip_skip == 0) r.clip_skip = clip_skip_;
    if (!opt_.default_model.empty() && job.target.path == opt_.default_model) {
        const DefaultModel& d = kDefaultModel;  // the settings SD-Turbo is made for (as `generate`)
        if (r.steps == 0) r.steps = d.steps;
        if (!r.cfg_scale) r.cfg_scale = d.cfg_scale;
        if (r.sampler.empty()) r.sampler = d.sampler;
        if (r.width == 0 && !r.init_image) r.width = d.width;
        if (r.height == 0 && !r.init_image) r.height = d.height;
    }
    if (job.spec.a1111_defaults && !engine_->model().distilled) {
        // A1111's API defaults (StableDiffusionProcessing): the same request gives the same image.
        if (r.steps == 0) r.steps = 50;
        if (!r.cfg_scale) r.cfg_scale = 7.0f;
        if (r.width == 0) r.width = 512;
        if (r.height == 0) r.height = 512;
        if (r.sampler.empty()) r.sampler = "Euler";  // sampler_index's default
    }
    if (r.seed == -1) r.seed = random_seed();
    const GenerateRequest resolved = engine_->resolve(r);
    out.resolved = resolved;
    out.model = engine_->model();
    out.model_title = catalog_.title(job.target);
    const int64_t count = int64_t(resolved.batch_size) * resolved.batch_count;
    for (int64_t i = 0; i < count; ++i) {
        out.seeds.push_back(image_seed(resolved.seed, resolved.subseed_strength, i));
        out.subseeds.push_back(seed_plus(resolved.subseed, i));
    }
    {
        std::lock_guard lock(mu_);
        state_ = ProgressSnapshot{};
        state_.busy = true;
        state_.job = job_name(job.spec.endpoint);
        state_.job_timestamp = out.job_timestamp;
        state_.job_count = resolved.batch_count;
        state_.sampling_steps = resolved.steps;
        job_start_ = Clock::now();
        preview_family_ = out.model.family;
        interrupt_ = closing_;
        skip_ = false;
    }
    // One engine call per batch, as `sdpp generate` runs them (same seeds, same images).
    for (int b = 0; b < resolved.batch_count; ++b) {
        if (interrupt_) break;
        GenerateRequest one = resolved;
        one.batch_count = 1;
        one.seed = image_seed(resolved.seed, resolved.subseed_strength, int64_t(b) * resolved.batch_size);
        if (resolved.subseed_strength != 0.0f) one.subseed = seed_plus(resolved.subseed, int64_t(b) * resolved.batch_size);
        // Latents every step (the cheap preview costs nothing until /progress asks), and a TAESD
        // picture every taesd_preview_every steps when the server has TAESD.
        one.preview_every = 1;
        one.preview_method = "none";
        if (!opt_.model.taesd.empty() && opt_.taesd_preview_every > 0) {
            one.preview_every = opt_.taesd_preview_every;
            one.preview_method = "taesd";
        }
        skip_ = false;
        GenerateResult res = engine_->generate(one, [&](const Progress& p) { return on_progress(p, b); });
        for (GeneratedImage& g : res.images) {
            g.index += b * resolved.batch_size;
            out.images.push_back(std::move(g));
        }
    }
    out.interrupted = interrupt_;
}

ProgressSnapshot Worker::progress(bool with_image) {
    std::shared_ptr<const Latent> preview;
    std::shared_ptr<const Image> picture;
    std::string family;
    ProgressSnapshot s;
    int serial = 0;
    {
        std::lock_guard lock(mu_);
        s = state_;
        s.queued = queue_.size();
        if (s.busy && s.job_count > 0) {
            const double within = s.sampling_steps > 0 ? double(s.sampling_step) / s.sampling_steps : 0;
            s.progress = std::min(1.0, (s.job_no + within) / s.job_count);
            const double elapsed = std::chrono::duration<double>(Clock::now() - job_start_).count();
            s.eta_relative = s.progress > 0 ? elapsed / s.progress - elapsed : 0;
        }
        if (!with_image || (!preview_ && !preview_image_)) return s;
        if (encoded_serial_ == preview_serial_) {
            s.current_image = encoded_preview_;
            return s;
        }
        preview = preview_;
        picture = preview_image_;
        family = preview_family_;
        serial = preview_serial_;
    }
    // Encode outside the lock: the sampler goes on meanwhile.
    Image img = picture ? *picture : latent_preview(*preview, family);
    if (img.empty()) return s;
    GeneratedImage g;
    g.image = std::move(img);
    std::vector<uint8_t> png = encode_png(g);
    s.current_image = base64_encode(png.data(), png.size());
    std::lock_guard lock(mu_);
    if (serial >= encoded_serial_) {
        encoded_serial_ = serial;
        encoded_preview_ = s.current_image;
    }
    return s;
}

}  // namespace sdpp::server
