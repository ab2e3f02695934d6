// The one thread that owns the Engine: it runs queued jobs (generations and model switches) one at
// a time, in order, and publishes their progress. HTTP handlers submit a job and wait on its
// future; a client that goes away leaves its job to finish normally. The queue is bounded: submit
// throws HttpError 503 (with Retry-After) when it is full, and once shutdown() began.
#pragma once
#include "server/a1111_request.h"
#include "server/model_catalog.h"

#include <sdpp/sdpp.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace sdpp::server {

struct WorkerOptions {
    ModelOptions model;            // everything but .model/.name, which come from the catalog entry
    size_t max_queue = 16;         // jobs waiting (the running one not counted)
    std::string default_model;     // path of sdpp's default model when it is the one served ("" = none)
    int taesd_preview_every = 4;   // with model.taesd: a TAESD preview every N sampler steps
};

struct JobOutcome {
    int status = 200;                     // 200, or the HTTP status of `error`
    std::string error;
    std::vector<GeneratedImage> images;   // in order; fewer than asked when interrupted or skipped
    std::vector<int64_t> seeds, subseeds; // per image asked for (A1111 all_seeds / all_subseeds)
    GenerateRequest resolved;             // the request as run
    ModelDescription model;
    std::string model_title;
    bool interrupted = false;
    double seconds = 0;
    std::string job_timestamp;            // A1111's "%Y%m%d%H%M%S" of the start
};

// What /sdapi/v1/progress reports.
struct ProgressSnapshot {
    bool busy = false;
    std::string job, job_timestamp;
    int job_count = 0, job_no = 0, sampling_step = 0, sampling_steps = 0;
    bool interrupted = false, skipped = false;
    double progress = 0, eta_relative = 0;
    std::string current_image;  // base64 PNG; "" when none (or not asked for)
    size_t queued = 0;
};

struct LoadedModel {
    ModelDescription description;
    std::string title;        // A1111's title of the loaded checkpoint
    EngineMemory memory;
    bool loaded = false;
};

class Worker {
public:
    Worker(WorkerOptions options, ModelCatalog& catalog);
    ~Worker();

    // Loads the first model in the calling thread (errors throw sdpp::Error), then starts the thread.
    void start(const CatalogEntry& first);
    std::future<JobOutcome> submit_generation(JobSpec spec);
    // Queues a switch to `entry` (after the running and waiting jobs) and makes it the selected model.
    std::future<JobOutcome> submit_switch(const CatalogEntry& entry);
    void interrupt();  // the running job stops within one sampler step, keeping finished images
    void skip();       // the running batch stops; the job goes on with its next batch
    // Refuses new jobs, cancels the running one, answers the waiting ones (503), joins the thread.
    void shutdown();

    ProgressSnapshot progress(bool with_image);
    LoadedModel loaded() const;
    CatalogEntry selected() const;  // the model requests without an override run on
    int clip_skip() const { return clip_skip_; }
    void set_clip_skip(int v) { clip_skip_ = v; }
    size_t queued() const;

private:
    struct Job;
    std::future<JobOutcome> enqueue(std::unique_ptr<Job> job);
    void loop();
    void run(Job& job);
    void run_generation(Job& job, JobOutcome& out);
    void ensure_model(const CatalogEntry& entry);  // worker thread only
    void load(const CatalogEntry& entry);          // worker thread (or start) only
    bool on_progress(const Progress& p, int batch);

    WorkerOptions opt_;
    ModelCatalog& catalog_;
    std::unique_ptr<Engine> engine_;  // touched by the worker thread only (and start())
    CatalogEntry engine_entry_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::unique_ptr<Job>> queue_;
    bool closing_ = false;
    CatalogEntry selected_;
    LoadedModel loaded_;
    double avg_job_seconds_ = 5;
    std::thread thread_;

    // progress of the running job (under mu_)
    ProgressSnapshot state_;
    std::chrono::steady_clock::time_point job_start_;
    std::shared_ptr<const Latent> preview_;
    std::shared_ptr<const Image> preview_image_;  // the engine's TAESD preview (newer than preview_ when set)
    std::string preview_family_;
    int preview_serial_ = 0, encoded_serial_ = -1;
    std::string encoded_preview_;

    std::atomic<bool> interrupt_{false}, skip_{false};
    std::atomic<int> clip_skip_{1};
};

}  // namespace sdpp::server
