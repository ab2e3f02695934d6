// libcurl easy-interface wrapper for the hub client; see http.h. Follows libcurl's documented
// callback contracts (CURLOPT_WRITEFUNCTION, CURLOPT_HEADERFUNCTION, CURLOPT_XFERINFOFUNCTION).
#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

namespace sdpp::hub {
namespace {

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct SlistFree {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct EasyFree {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using Slist = std::unique_ptr<curl_slist, SlistFree>;
using Easy = std::unique_ptr<CURL, EasyFree>;

constexpr size_t kMaxErrorBody = 64 * 1024;

// State shared by the callbacks of one transfer.
struct Transfer {
    CURL* curl = nullptr;
    std::map<std::string, std::string> headers;  // of the latest response
    // download mode
    const DownloadCallbacks* cb = nullptr;
    bool started = false;        // begin() was called for a 2xx response
    bool ok_status = false;
    bool aborted = false;
    std::string body;            // memory mode body, or a non-2xx body in download mode
    size_t max_body = kMaxErrorBody;
    bool too_big = false;

    long status() const {
        long s = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &s);
        return s;
    }
};

int64_t content_range_start(const std::map<std::string, std::string>& h) {
    auto it = h.find("content-range");  // "bytes 100-199/200"
    if (it == h.end()) return -1;
    const std::string& v = it->second;
    size_t p = v.find("bytes ");
    if (p == std::string::npos) return -1;
    p += 6;
    int64_t n = 0;
    bool any = false;
    while (p < v.size() && std::isdigit((unsigned char)v[p])) {
        n = n * 10 + (v[p++] - '0');
        any = true;
    }
    return any ? n : -1;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::string line(data, size * n);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect or 100-continue)
        t->headers.clear();
        return size * n;
    }
    size_t colon = line.find(':');
    if (colon == std::string::npos) return size * n;
    std::string name = line.substr(0, colon), value = line.substr(colon + 1);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    size_t b = value.find_first_not_of(" \t");
    value = b == std::string::npos ? "" : value.substr(b);
    t->headers[name] = value;
    return size * n;
}

// Memory mode: collect the body.
size_t on_body(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    if (t->body.size() + size * n > t->max_body) {
        t->too_big = true;
        return 0;
    }
    t->body.append(data, size * n);
    return size * n;
}

bool start_download(Transfer* t) {
    t->started = true;
    long s = t->status();
    t->ok_status = s >= 200 && s < 300;
    if (t->ok_status && t->cb->begin && !t->cb->begin(s, content_range_start(t->headers))) {
        t->aborted = true;
        return false;
    }
    return true;
}

// Download mode: 2xx bodies go to the caller, other bodies are kept (capped) for the message.
size_t on_download(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    if (!t->started && !start_download(t)) return 0;
    if (!t->ok_status) {
        size_t room = kMaxErrorBody - std::min(kMaxErrorBody, t->body.size());
        t->body.append(data, std::min(room, size * n));
        return size * n;
    }
    if (t->cb->write && !t->cb->write(data, size * n)) {
        t->aborted = true;
        return 0;
    }
    return size * n;
}

int on_progress(void* user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
    auto* t = static_cast<Transfer*>(user);
    if (t->started && t->ok_status && t->cb->progress) t->cb->progress(int64_t(dlnow), int64_t(dltotal));
    return 0;
}

Easy make_easy(const std::string& url, const HttpOptions& o, Slist& headers, Transfer& t) {
    global_init();
    Easy curl(curl_easy_init());
    SDPP_CHECK(curl, "libcurl: curl_easy_init failed");
    CURL* c = curl.get();
    t.curl = c;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, o.user_agent.c_str());
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o.connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o.stall_timeout_s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    if (!o.token.empty()) {
        std::string auth = "Authorization: Bearer " + o.token;
        headers.reset(curl_slist_append(headers.release(), auth.c_str()));
        SDPP_CHECK(headers, "libcurl: out of memory building headers");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    }
    return curl;
}

bool is_unreachable_code(CURLcode code) {
    return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
           code == CURLE_COULDNT_RESOLVE_PROXY || code == CURLE_OPERATION_TIMEDOUT ||
           code == CURLE_GOT_NOTHING || code == CURLE_SSL_CONNECT_ERROR || code == CURLE_RECV_ERROR ||
           code == CURLE_SEND_ERROR;
}

}  // namespace

HttpResponse http_get(const std::string& url, const HttpOptions& o, size_t max_body) {
    Transfer t;
    t.max_body = max_body;
    Slist headers;
    Easy curl = make_easy(url, o, headers, t);
    curl_easy_setopt(curl.get(), CURLOPT_ACCEPT_ENCODING, "");  // gzip'd JSON is fine here
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &t);
    CURLcode code = curl_easy_perform(curl.get());
    HttpResponse r;
    r.status = t.status();
    if (t.too_big) throw error("GET ", url, ": response larger than ", max_body, " bytes");
    if (code != CURLE_OK) {
        if (r.status == 0 && is_unreachable_code(code))
            throw Unreachable(detail::concat("cannot reach ", url, ": ", curl_easy_strerror(code)));
        throw error("GET ", url, " failed: ", curl_easy_strerror(code));
    }
    r.body = std::move(t.body);
    r.headers = std::move(t.headers);
    return r;
}

DownloadOutcome http_download(const std::string& url, const HttpOptions& o, int64_t range_from,
                              const DownloadCallbacks& cb) {
    Transfer t;
    t.cb = &cb;
    Slist headers;
    Easy curl = make_easy(url, o, headers, t);
    CURL* c = curl.get();
    std::string range = std::to_string(range_from) + "-";
    if (range_from > 0) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_download);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    CURLcode code = curl_easy_perform(c);
    DownloadOutcome out;
    out.status = t.status();
    // An empty 2xx body never reaches the write callback: start it here.
    if (code == CURLE_OK && !t.started && out.status >= 200 && out.status < 300) start_download(&t);
    out.aborted = t.aborted;
    out.curl_code = t.aborted ? int(CURLE_ABORTED_BY_CALLBACK) : int(code);
    if (out.curl_code != 0) out.error = curl_easy_strerror(CURLcode(out.curl_code));
    out.body = std::move(t.body);
    return out;
}

}  // namespace sdpp::hub
