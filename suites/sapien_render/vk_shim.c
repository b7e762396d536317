/*
 * A wrapper Vulkan ICD ("installable client driver") for rendering SAPIEN 2.2.2 / 3.0.0b1 on
 * Mesa lavapipe (CPU).
 *
 * Those SAPIEN builds always ask vkCreateDevice for VK_KHR_external_semaphore_fd (used only to
 * share semaphores with CUDA). Mesa 25 lavapipe does not offer that extension, so device creation
 * fails with VK_ERROR_EXTENSION_NOT_PRESENT and SAPIEN finds no renderer. This library stands
 * between the Vulkan loader and lavapipe:
 *   - vkEnumerateDeviceExtensionProperties lists the driver's extensions plus the missing ones
 *     named in EXTRA_EXTENSIONS, so SAPIEN's check passes;
 *   - vkCreateDevice removes from the requested extension list every name the driver does not
 *     really support, then creates the device with the driver;
 *   - everything else is the driver's own function (looked up through its vk_icdGetInstanceProcAddr).
 * Nothing calls the hidden extension's functions unless CUDA interop is used (it is not, on CPU).
 *
 * The real driver: $VLA_EVAL_VK_REAL_ICD if set, else REAL_ICD_DEFAULT (set at build time by
 * build_vk_shim.sh to the lavapipe library it was built for).
 */
#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>
#include <vulkan/vk_icd.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef REAL_ICD_DEFAULT
#define REAL_ICD_DEFAULT "libvulkan_lvp.so"
#endif

#define EXPORT __attribute__((visibility("default")))

static const char *const EXTRA_EXTENSIONS[] = {"VK_KHR_external_semaphore_fd"};
static const uint32_t EXTRA_SPEC_VERSION = 1;
#define N_EXTRA (sizeof(EXTRA_EXTENSIONS) / sizeof(EXTRA_EXTENSIONS[0]))

typedef VkResult(VKAPI_PTR *PFN_negotiate)(uint32_t *);
typedef PFN_vkVoidFunction(VKAPI_PTR *PFN_icd_gipa)(VkInstance, const char *);

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void *g_lib;
static PFN_negotiate g_negotiate;
static PFN_icd_gipa g_gipa;
static PFN_icd_gipa g_gpdpa;
static PFN_vkEnumerateDeviceExtensionProperties g_enum_dev_ext;
static PFN_vkCreateDevice g_create_device;

static void load_real(void) {
    const char *path = getenv("VLA_EVAL_VK_REAL_ICD");
    if (!path || !*path) path = REAL_ICD_DEFAULT;
    g_lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!g_lib) {
        fprintf(stderr, "vla-eval vk_shim: cannot load the real Vulkan driver %s: %s\n", path, dlerror());
        return;
    }
    g_negotiate = (PFN_negotiate)dlsym(g_lib, "vk_icdNegotiateLoaderICDInterfaceVersion");
    g_gipa = (PFN_icd_gipa)dlsym(g_lib, "vk_icdGetInstanceProcAddr");
    g_gpdpa = (PFN_icd_gipa)dlsym(g_lib, "vk_icdGetPhysicalDeviceProcAddr");
    if (!g_gipa) fprintf(stderr, "vla-eval vk_shim: %s exports no vk_icdGetInstanceProcAddr\n", path);
}

static int real_ready(void) {
    pthread_once(&g_once, load_real);
    return g_gipa != NULL;
}

static int is_extra(const char *name) {
    for (size_t i = 0; i < N_EXTRA; i++)
        if (strcmp(name, EXTRA_EXTENSIONS[i]) == 0) return 1;
    return 0;
}

/* The driver's own device extensions (caller frees). */
static VkResult real_extensions(VkPhysicalDevice pd, uint32_t *n, VkExtensionProperties **out) {
    *out = NULL;
    *n = 0;
    VkResult r = g_enum_dev_ext(pd, NULL, n, NULL);
    if (r != VK_SUCCESS) return r;
    *out = calloc(*n ? *n : 1, sizeof(VkExtensionProperties));
    if (!*out) return VK_ERROR_OUT_OF_HOST_MEMORY;
    return g_enum_dev_ext(pd, NULL, n, *out);
}

static VKAPI_ATTR VkResult VKAPI_CALL shim_EnumerateDeviceExtensionProperties(
    VkPhysicalDevice pd, const char *layer, uint32_t *count, VkExtensionProperties *props) {
    if (layer) return g_enum_dev_ext(pd, layer, count, props);
    uint32_t n;
    VkExtensionProperties *real;
    VkResult r = real_extensions(pd, &n, &real);
    if (r != VK_SUCCESS) {
        free(real);
        return r;
    }
    VkExtensionProperties all[n + N_EXTRA];
    uint32_t total = 0;
    for (uint32_t i = 0; i < n; i++) all[total++] = real[i];
    for (size_t e = 0; e < N_EXTRA; e++) {
        int present = 0;
        for (uint32_t i = 0; i < n; i++)
            if (strcmp(real[i].extensionName, EXTRA_EXTENSIONS[e]) == 0) present = 1;
        if (!present) {
            memset(&all[total], 0, sizeof(all[total]));
            snprintf(all[total].extensionName, VK_MAX_EXTENSION_NAME_SIZE, "%s", EXTRA_EXTENSIONS[e]);
            all[total].specVersion = EXTRA_SPEC_VERSION;
            total++;
        }
    }
    free(real);
    if (!props) {
        *count = total;
        return VK_SUCCESS;
    }
    uint32_t k = *count < total ? *count : total;
    memcpy(props, all, k * sizeof(VkExtensionProperties));
    *count = k;
    return k < total ? VK_INCOMPLETE : VK_SUCCESS;
}

static VKAPI_ATTR VkResult VKAPI_CALL shim_CreateDevice(
    VkPhysicalDevice pd, const VkDeviceCreateInfo *info, const VkAllocationCallbacks *alloc, VkDevice *device) {
    uint32_t n;
    VkExtensionProperties *real;
    VkResult r = real_extensions(pd, &n, &real);
    if (r != VK_SUCCESS) {
        free(real);
        return r;
    }
    uint32_t want = info->enabledExtensionCount;
    const char *kept[want ? want : 1];
    uint32_t k = 0;
    for (uint32_t i = 0; i < want; i++) {
        const char *name = info->ppEnabledExtensionNames[i];
        int supported = 0;
        for (uint32_t j = 0; j < n; j++)
            if (strcmp(real[j].extensionName, name) == 0) supported = 1;
        /* Drop only what this shim added; anything else unsupported fails in the driver as it should. */
        if (supported || !is_extra(name)) kept[k++] = name;
    }
    free(real);
    VkDeviceCreateInfo copy = *info;
    copy.enabledExtensionCount = k;
    copy.ppEnabledExtensionNames = k ? kept : NULL;
    return g_create_device(pd, &copy, alloc, device);
}

static PFN_vkVoidFunction intercept(VkInstance instance, const char *name) {
    if (!instance) return NULL;
    if (strcmp(name, "vkEnumerateDeviceExtensionProperties") == 0) {
        PFN_vkVoidFunction f = g_gipa(instance, name);
        if (!f) return NULL;
        g_enum_dev_ext = (PFN_vkEnumerateDeviceExtensionProperties)f;
        return (PFN_vkVoidFunction)shim_EnumerateDeviceExtensionProperties;
    }
    if (strcmp(name, "vkCreateDevice") == 0) {
        PFN_vkVoidFunction f = g_gipa(instance, name);
        PFN_vkVoidFunction e = g_gipa(instance, "vkEnumerateDeviceExtensionProperties");
        if (!f || !e) return NULL;
        g_create_device = (PFN_vkCreateDevice)f;
        g_enum_dev_ext = (PFN_vkEnumerateDeviceExtensionProperties)e;
        return (PFN_vkVoidFunction)shim_CreateDevice;
    }
    return NULL;
}

EXPORT VKAPI_ATTR VkResult VKAPI_CALL vk_icdNegotiateLoaderICDInterfaceVersion(uint32_t *version) {
    if (!real_ready()) return VK_ERROR_INCOMPATIBLE_DRIVER;
    if (g_negotiate) return g_negotiate(version);
    /* A driver without the negotiation entry point speaks interface version 1 at most. */
    if (*version > 1) *version = 1;
    return VK_SUCCESS;
}

EXPORT VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL vk_icdGetInstanceProcAddr(VkInstance instance, const char *name) {
    if (!real_ready()) return NULL;
    PFN_vkVoidFunction f = intercept(instance, name);
    return f ? f : g_gipa(instance, name);
}

EXPORT VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL vk_icdGetPhysicalDeviceProcAddr(VkInstance instance, const char *name) {
    if (!real_ready()) return NULL;
    PFN_vkVoidFunction f = intercept(instance, name);
    if (f) return f;
    return g_gpdpa ? g_gpdpa(instance, name) : NULL;
}
