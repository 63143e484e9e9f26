# Raw data (downloaded, or a local data_dir used in place) and the encoded spike lists.
# Downloads are local rules: on a cluster they run on the login node, which has network.


localrules:
    download_fmnist,
    download_shd,


rule download_fmnist:
    output:
        download_outputs("fmnist"),
    log:
        f"{CFG.raw_dir}/fmnist/download.log",
    conda:
        ENV
    params:
        dataset="fmnist",
    script:
        "../scripts/download.py"


rule download_shd:
    output:
        download_outputs("shd"),
    log:
        f"{CFG.raw_dir}/shd/download.log",
    conda:
        ENV
    params:
        dataset="shd",
    script:
        "../scripts/download.py"


rule encode:
    input:
        raw_inputs,
    output:
        train=f"{RESULTS}/encoded/{{dataset}}/train.h5",
        test=f"{RESULTS}/encoded/{{dataset}}/test.h5",
    log:
        f"{LOGS}/encode/{{dataset}}.log",
    conda:
        ENV
    resources:
        mem_mb=16000,
        runtime=60,
    params:
        source=raw_directory,
        encoding=lambda wildcards: CFG.dataset_params(wildcards.dataset),
    script:
        "../scripts/encode.py"
