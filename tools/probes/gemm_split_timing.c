/* The trunk's GEMM shapes (im2col, batch 1): OpenBLAS on 2 threads against 1 thread and
   against two of our threads each running half of C (by rows or by columns) on a
   single-threaded OpenBLAS. Best of 7. gcc -O2 gemm_split_timing.c -lopenblas -lpthread */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <time.h>
void openblas_set_num_threads(int);
static float rnd(){ return (float)rand()/RAND_MAX*2-1; }
static double now(){ struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec+t.tv_nsec*1e-9; }
typedef struct { int M,N,K; const float*A,*B; float*C; int lda,ldb,ldc; } job;
static void run(job*j){ cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,j->M,j->N,j->K,1,j->A,j->lda,j->B,j->ldb,0,j->C,j->ldc); }
static void* th(void*p){ run((job*)p); return 0; }
int main(){
  // M=Cout, K=Cin*k*k, N=HW, count in trunk
  int shapes[][4] = {
   {40,27,20736,1},{40,360,20736,1},{80,360,20736,1},
   {80,80,5184,1},{80,320,5184,3},{80,720,5184,4},{320,80,5184,4},{320,80,5184,1},
   {160,320,5184,1},{160,640,1296,5},{160,1440,1296,5},{160,1440,5184,1},{640,160,1296,6},{640,320,1296,1},
   {320,640,1296,1},{320,1280,324,9},{320,2880,324,9},{320,2880,1296,1},{1280,320,324,10},{1280,640,324,1},
   {640,1280,324,1},{640,2560,81,5},{640,5760,81,5},{640,5760,324,1},{2560,640,81,6},{2560,1280,81,1}};
  int ns=sizeof(shapes)/sizeof(shapes[0]);
  double tot[4]={0};
  for(int s=0;s<ns;s++){
    int M=shapes[s][0],K=shapes[s][1],N=shapes[s][2],cnt=shapes[s][3];
    float *A=malloc(sizeof(float)*M*K),*B=malloc(sizeof(float)*K*N),*C=malloc(sizeof(float)*M*N);
    for(int i=0;i<M*K;i++)A[i]=rnd(); for(int i=0;i<K*N;i++)B[i]=rnd();
    double best[4]={1e9,1e9,1e9,1e9};
    for(int rep=0;rep<7;rep++){
      job full={M,N,K,A,B,C,K,N,N};
      openblas_set_num_threads(2); double t=now(); run(&full); t=now()-t; if(t<best[0])best[0]=t;
      openblas_set_num_threads(1); t=now(); run(&full); t=now()-t; if(t<best[1])best[1]=t;
      int m1=(M/2+7)/8*8; job a={m1,N,K,A,B,C,K,N,N}, b={M-m1,N,K,A+m1*K,B,C+m1*N,K,N,N};
      pthread_t p; t=now(); pthread_create(&p,0,th,&b); run(&a); pthread_join(p,0); t=now()-t; if(t<best[2])best[2]=t;
      int n1=(N/2+15)/16*16; job c={M,n1,K,A,B,C,K,N,N}, d={M,N-n1,K,A,B+n1,C+n1,K,N,N};
      t=now(); pthread_create(&p,0,th,&d); run(&c); pthread_join(p,0); t=now()-t; if(t<best[3])best[3]=t;
    }
    printf("M=%4d K=%4d N=%5d x%2d: 2thr %.2f  1thr %.2f  splitM %.2f  splitN %.2f ms\n",M,K,N,cnt,best[0]*1e3,best[1]*1e3,best[2]*1e3,best[3]*1e3);
    for(int i=0;i<4;i++) tot[i]+=best[i]*cnt;
    free(A);free(B);free(C);
  }
  printf("total ms: 2thr %.1f 1thr %.1f splitM %.1f splitN %.1f\n",tot[0]*1e3,tot[1]*1e3,tot[2]*1e3,tot[3]*1e3);
}
